"""Fine-tuning and evaluation of the embedding model.

Modules (torch is imported only by the ones that train): ``dataset`` (folder-per-person trees,
identity splits, pairs files), ``heads`` / ``pair_losses`` / ``objectives`` (softmax, CosFace,
ArcFace, SphereFace, triplet, contrastive), ``grouping`` (GroupFace's self-distributed grouping
loss; the network is :mod:`lockers.vision.groupface`), ``recipe`` (YAML recipes), ``backbone``,
``sampling``, ``trainer``, ``distributed`` / ``launch`` (DDP), ``metrics`` / ``plots``
(verification figures), ``faces`` (the kiosk's detect → gate → align), ``evaluate``,
``calibrate`` / ``config_edit``, ``align_dataset``.
"""
