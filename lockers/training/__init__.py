"""Fine-tuning and evaluation of the embedding model.

Modules (torch is imported only by the ones that train): ``dataset`` (folder-per-person trees,
identity splits, pairs files), ``heads`` / ``pair_losses`` / ``objectives`` (softmax, CosFace,
ArcFace, SphereFace, triplet, contrastive), ``recipe`` (YAML recipes), ``backbone``,
``sampling``, ``trainer``, ``distributed`` / ``launch`` (DDP), ``metrics`` / ``plots``
(verification figures), ``faces`` (the kiosk's detect → gate → align), ``evaluate``,
``calibrate`` / ``config_edit``, ``align_dataset``.
"""
