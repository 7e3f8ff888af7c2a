"""HDR metrics. BasicSR does not auto-import metric modules, so each one is imported here explicitly."""
from basicsr_skt.metrics import hdr_metrics  # noqa: F401  (registers calculate_psnr_l/_mu, calculate_ssim_l/_mu)
