"""Semantic Knowledge Bank (SKB): offline semantic priors per scene, their storage format and their geometry.

* :mod:`~basicsr_skt.skb.format`: write / read / validate the per-scene files (``skb_embedding.npy``,
  ``skb_labels.npy``, ``skb_meta.json``, ``skb_preview.png``).
* :mod:`~basicsr_skt.skb.geometry`: map an embedding onto any pixel grid (crop) of the scene; crop label maps.
* :mod:`~basicsr_skt.skb.extractors`: the semantic-backend interface; the backends in
  :mod:`~basicsr_skt.skb.sam_backend` (Segment Anything) and :mod:`~basicsr_skt.skb.vgg_backend` (VGG16, with the
  superpixel labels of :mod:`~basicsr_skt.skb.superpixels`). A backend defined elsewhere (the diagnostic oracle of
  ``research/oracle_backend.py``) makes its files readable with :func:`~basicsr_skt.skb.format.register_backend`.
* :mod:`~basicsr_skt.skb.labels`, :mod:`~basicsr_skt.skb.source`, :mod:`~basicsr_skt.skb.preview`: label maps,
  display-referred source images, coloured previews.

Nothing here imports a model, arch or dataset; ``segment_anything`` and ``skimage`` are imported only when a backend
that needs them is built. ``scripts/make_semantic_priors.py`` runs the extraction over a dataset.
"""
from basicsr_skt.skb.format import (EMBEDDING_FILE, FORMAT_VERSION, LABELS_FILE, META_FILE, PREVIEW_FILE,
                                    load_scene_priors, register_backend, save_scene_priors, scene_priors_done,
                                    validate_scene_priors)
from basicsr_skt.skb.geometry import cell_coordinates, crop_labels, resample_embedding
from basicsr_skt.skb.labels import masks_to_labels, relabel_by_area

__all__ = [
    'EMBEDDING_FILE', 'FORMAT_VERSION', 'LABELS_FILE', 'META_FILE', 'PREVIEW_FILE', 'load_scene_priors',
    'register_backend', 'save_scene_priors', 'scene_priors_done', 'validate_scene_priors', 'cell_coordinates',
    'crop_labels', 'resample_embedding', 'masks_to_labels', 'relabel_by_area'
]
