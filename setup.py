#!/usr/bin/env python
"""Install basicsr-skt. Use `bash scripts/setup_env.sh` for the full, pinned environment (see README)."""
import os.path as osp
from setuptools import find_packages, setup


def read_version() -> str:
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'basicsr_skt', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='basicsr-skt',
    version=read_version(),
    description='Semantic Knowledge Transfer for multi-exposure HDR reconstruction, as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['basicsr_skt', 'basicsr_skt.*']),
    package_data={'basicsr_skt.reporting': ['compare_page.js']},  # the comparison page's viewer script
    python_requires='>=3.9',
    # basicsr, torch, torchvision, opencv and tensorboard are deliberately NOT declared: basicsr names opencv-python
    # and tb-nightly, and a declared `basicsr` may make pip install a second distribution of the `basicsr` package
    # beside a master build. requirements.txt pins the tested set; scripts/setup_env.sh installs it.
    install_requires=['numpy', 'pyyaml', 'tqdm'],
    license='Apache-2.0',
    zip_safe=False,
)
