"""Let BasicSR's stock entry points (``python -m basicsr.train``, ``basicsr/train.py``) find the plugin.

``python -m basicsr_skt.autoload install`` writes ``basicsr_skt.pth`` into site-packages. At interpreter start it loads
``basicsr_skt/_hook.py`` by path (standard library only, no torch): a finder that imports ``basicsr_skt`` right
after ``basicsr`` is imported. ``uninstall`` removes the file; ``status`` tells whether it is active.
``BASICSR_SKT_AUTOLOAD=0`` switches the import off without uninstalling.
"""
import argparse
import os
import os.path as osp
import sysconfig
from typing import Optional

PTH_NAME = 'basicsr_skt.pth'
HOOK_FILE = osp.join(osp.dirname(osp.abspath(__file__)), '_hook.py')


def pth_line(hook_file: str = HOOK_FILE) -> str:
    """The single executable ``.pth`` line: load the hook by path if the file exists, then install it."""
    return ('import os, importlib.util as u; '
            f'p = {hook_file!r}; '
            "s = os.path.isfile(p) and u.spec_from_file_location('_basicsr_skt_hook', p); "
            'm = s and u.module_from_spec(s); '
            's and s.loader.exec_module(m); '
            'm and m.install()\n')


def default_site_dir() -> str:
    return sysconfig.get_paths()['purelib']


def install(site_dir: Optional[str] = None) -> str:
    path = osp.join(site_dir or default_site_dir(), PTH_NAME)
    with open(path, 'w') as f:
        f.write(
            '# basicsr-skt: makes `import basicsr` also register the plugin; see `python -m basicsr_skt.autoload`\n')
        f.write(pth_line())
    return path


def uninstall(site_dir: Optional[str] = None) -> Optional[str]:
    path = osp.join(site_dir or default_site_dir(), PTH_NAME)
    if osp.exists(path):
        os.remove(path)
        return path
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('action', choices=['install', 'uninstall', 'status'])
    parser.add_argument(
        '--site-dir', default=None, help='folder for the .pth file (default: this env\'s site-packages)')
    args = parser.parse_args(argv)
    if args.action == 'install':
        print(f'installed {install(args.site_dir)}')
    elif args.action == 'uninstall':
        removed = uninstall(args.site_dir)
        print(f'removed {removed}' if removed else 'nothing to remove')
    else:
        path = osp.join(args.site_dir or default_site_dir(), PTH_NAME)
        state = 'installed' if osp.exists(path) else 'not installed'
        switch = os.environ.get('BASICSR_SKT_AUTOLOAD', '1')
        print(f'{path}: {state}; BASICSR_SKT_AUTOLOAD={switch}')


if __name__ == '__main__':
    main()
