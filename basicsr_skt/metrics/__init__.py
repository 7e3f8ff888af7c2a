"""HDR metrics. BasicSR does not auto-import metric modules, so each one is imported here explicitly."""
from basicsr_skt.metrics.hdr_metrics import (  # noqa: F401
    calculate_psnr_l, calculate_psnr_mu, calculate_ssim_l, calculate_ssim_mu)
