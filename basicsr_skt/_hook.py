"""Start-up hook that lets BasicSR's stock entry points see the plugin, and makes basicsr 1.4.2 importable.

This file is deliberately self-contained (standard library only): the ``basicsr_skt.pth`` file written by
``python -m basicsr_skt.autoload install`` loads it *by path* at interpreter start, without importing the
``basicsr_skt`` package (which imports torch). All it does at start-up is put one small finder on ``sys.meta_path``:

* when ``basicsr`` is imported, the finder lets the normal machinery load it and, right after ``basicsr/__init__.py``
  has run, imports ``basicsr_skt`` so every plugin class is registered before BasicSR's pipelines look anything up;
* when ``torchvision.transforms.functional_tensor`` is imported and no such module exists (torchvision >= 0.17
  removed it, but basicsr 1.4.2 still imports it), the finder serves ``torchvision.transforms._functional_tensor``
  under the old name.

Set ``BASICSR_SKT_AUTOLOAD=0`` to switch the plugin import off (the torchvision alias stays, it only adds a name).
"""
import importlib.abc
import importlib.util
import os
import sys

ENV_SWITCH = 'BASICSR_SKT_AUTOLOAD'
_OLD_TV_NAME = 'torchvision.transforms.functional_tensor'
_NEW_TV_NAME = 'torchvision.transforms._functional_tensor'


def autoload_enabled() -> bool:
    """Whether importing ``basicsr`` should also import ``basicsr_skt`` (env ``BASICSR_SKT_AUTOLOAD``)."""
    return os.environ.get(ENV_SWITCH, '1').strip().lower() not in ('0', 'false', 'no', 'off')


class _AliasLoader(importlib.abc.Loader):
    """Fills a new module with the public names of another module (a re-export under an old name)."""

    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return None  # default module creation

    def exec_module(self, module):
        target = importlib.import_module(self.target)
        module.__dict__.update({k: v for k, v in vars(target).items() if not k.startswith('__')})


class _PluginAfterBasicsrLoader(importlib.abc.Loader):
    """Wraps basicsr's own loader; imports the plugin once ``basicsr/__init__.py`` has run."""

    def __init__(self, wrapped):
        self.wrapped = wrapped

    def create_module(self, spec):
        return self.wrapped.create_module(spec)

    def exec_module(self, module):
        self.wrapped.exec_module(module)
        # A stale .pth (plugin uninstalled, e.g. an editable checkout left behind) must not break `import basicsr`.
        if autoload_enabled() and importlib.util.find_spec('basicsr_skt') is not None:
            importlib.import_module('basicsr_skt')

    def __getattr__(self, name):  # get_resource_reader, is_package, ... are the wrapped loader's
        return getattr(self.wrapped, name)


class BasicsrSktFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder for the two names above; every other import passes through untouched."""

    _basicsr_skt_finder = True  # marker: install() is idempotent even if this file is loaded twice

    def find_spec(self, fullname, path, target=None):
        if fullname not in ('basicsr', _OLD_TV_NAME):
            return None
        spec = self._spec_from_other_finders(fullname, path, target)
        if fullname == _OLD_TV_NAME:
            if spec is not None:  # an old torchvision still has the module: use it
                return spec
            return importlib.util.spec_from_loader(fullname, _AliasLoader(_NEW_TV_NAME))
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _PluginAfterBasicsrLoader(spec.loader)
        return spec

    def _spec_from_other_finders(self, fullname, path, target):
        for finder in sys.meta_path:
            if getattr(finder, '_basicsr_skt_finder', False) or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (no-op if a finder of this kind is already there)."""
    if not any(getattr(finder, '_basicsr_skt_finder', False) for finder in sys.meta_path):
        sys.meta_path.insert(0, BasicsrSktFinder())
