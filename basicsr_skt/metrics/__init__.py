"""HDR metrics. BasicSR does not auto-import metric modules, so each one is imported here explicitly.

Registered names (all distinct from BasicSR's own ``calculate_psnr``, ``calculate_ssim``, ``calculate_niqe``,
``calculate_psnr_pt`` and ``calculate_ssim_pt``): ``calculate_psnr_l``, ``calculate_psnr_mu``, ``calculate_ssim_l``,
``calculate_ssim_mu`` (:mod:`hdr_metrics`), ``calculate_pu_psnr``, ``calculate_pu_ssim`` (:mod:`pu21_metric`),
``calculate_lpips`` (:mod:`lpips_metric`), ``calculate_cvvdp`` (:mod:`cvvdp_metric`; ColorVideoVDP, needs the
optional ``cvvdp`` package only when called) and the BracketIRE RAW protocol ``calculate_raw_psnr``,
``calculate_raw_ssim``, ``calculate_raw_lpips`` (:mod:`raw_metrics`), and PSNR-μ / SSIM-μ inside the saturated or
dark, motion and remaining regions of a scene, ``calculate_region_psnr_mu``, ``calculate_region_ssim_mu``
(:mod:`region_metric`; they take the scene's frames as keyword arguments).
"""
from basicsr_skt.metrics import cvvdp_metric  # noqa: F401  (calculate_cvvdp)
from basicsr_skt.metrics import hdr_metrics  # noqa: F401  (calculate_psnr_l/_mu, calculate_ssim_l/_mu)
from basicsr_skt.metrics import lpips_metric  # noqa: F401  (calculate_lpips)
from basicsr_skt.metrics import pu21_metric  # noqa: F401  (calculate_pu_psnr, calculate_pu_ssim)
from basicsr_skt.metrics import raw_metrics  # noqa: F401  (calculate_raw_psnr/_ssim/_lpips)
from basicsr_skt.metrics import region_metric  # noqa: F401  (calculate_region_psnr_mu/_ssim_mu)
from basicsr_skt.metrics.metric_errors import MetricUnavailableError  # noqa: F401

#: Every metric name this package registers in BasicSR's METRIC_REGISTRY.
REGISTERED_METRICS = ('calculate_psnr_l', 'calculate_psnr_mu', 'calculate_ssim_l', 'calculate_ssim_mu',
                      'calculate_pu_psnr', 'calculate_pu_ssim', 'calculate_lpips', 'calculate_cvvdp',
                      'calculate_raw_psnr', 'calculate_raw_ssim', 'calculate_raw_lpips', 'calculate_region_psnr_mu',
                      'calculate_region_ssim_mu')
