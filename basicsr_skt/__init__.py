"""basicsr-skt: Semantic Knowledge Transfer for multi-exposure HDR networks, as a BasicSR plugin.

``import basicsr_skt`` makes basicsr importable on current torchvision, patches BasicSR's CPU gaps
(:mod:`basicsr_skt.compat`), warns once when the installed BasicSR is not a tested version, and registers every
arch, dataset, loss, metric and model of the plugin in BasicSR's registries, so BasicSR's own trainer can build them
from YAML.
"""
from basicsr_skt import _hook

_hook.install()  # torchvision alias for basicsr 1.4.2; must precede the first `import basicsr`

from basicsr_skt import compat  # noqa: E402  (patches BasicSR; needs the alias above)

compat.apply_patches()
compat.check_basicsr_version()  # one warning for an untested BasicSR version

from basicsr_skt import archs, data, losses, metrics, models  # noqa: E402,F401  (registration)
from basicsr_skt.version import __version__  # noqa: E402,F401
