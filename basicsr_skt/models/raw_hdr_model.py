"""``RawHDRModel`` / ``RawSKTModel``: the names RAW configs use for :class:`HDRModel` / :class:`SKTModel`.

Nothing differs but the name: every model chooses its validation display from the datasets' options
(:func:`~basicsr_skt.models.val_display.display_for`), so :class:`HDRModel` and :class:`SKTModel` validate packed RAW
(``BracketIRERawDataset``: the BracketIRE protocol metrics with each scene's ``wb`` and ``ccm``, ``<stem>_raw.npy``
and ``<stem>_mu16.png`` visuals, sRGB renderings in figures and tensorboard) as these do. The names stay registered
for the shipped RAW configs (``options/*raw*.yml``).
"""
from basicsr.utils.registry import MODEL_REGISTRY
from basicsr_skt.models.hdr_model import HDRModel
from basicsr_skt.models.skt_model import SKTModel


@MODEL_REGISTRY.register()
class RawHDRModel(HDRModel):
    """:class:`HDRModel` under the name of the RAW configs (the RAW display comes from the datasets)."""


@MODEL_REGISTRY.register()
class RawSKTModel(SKTModel):
    """:class:`SKTModel` under the name of the RAW configs; on RAW, SPGRM needs ``img_channels: 4`` and
    ``ref_channels: 8``."""
