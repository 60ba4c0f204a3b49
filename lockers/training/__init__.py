"""Fine-tuning and evaluation of the embedding model."""
