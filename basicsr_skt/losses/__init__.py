"""Every ``*_loss.py`` module here is imported, so its classes register in BasicSR's registry."""
from basicsr_skt.utils.scan import import_modules_with_suffix

_modules = import_modules_with_suffix(__file__, __name__, '_loss')
