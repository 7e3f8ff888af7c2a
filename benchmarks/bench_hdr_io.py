#!/usr/bin/env python
"""Read time of a 1000 x 1500 HDR image: ``read_hdr`` vs. the bare decoders vs. OpenImageIO, and which reader
returns each legal variant correctly.

Readers, side by side on the same files (written once to a temporary folder from one deterministic radiance map):

* ``read_hdr``: this project's reader (header parsing, orientation, exposure, data window, finite/negative checks);
* ``OpenCV / OpenEXR``: the bare decoders behind it (``cv2.imdecode`` for ``.hdr`` and ``.pfm``, the ``OpenEXR``
  package for ``.exr``), no checks;
* ``OpenImageIO``: ``ImageInput.read_image(format='float')`` when the ``OpenImageIO`` package is installed (it is not
  a dependency; ``pip install OpenImageIO`` to compare).

Timing: every reader on one thread (``cv2.setNumThreads(1)``, OpenImageIO's ``threads`` and ``exr_threads`` 1,
``OpenEXR.set_global_thread_count(1)``), files in the page cache, readers interleaved, the median of ``--repeats``
reads. The second table reads small variant files and says whether each reader returns the expected upright,
exposure-corrected BGR radiance (``ok``), something else (``wrong``: e.g. pixels in file order, with the orientation
only in metadata) or an error.

    python benchmarks/bench_hdr_io.py                  # ~20 s on one core
    python benchmarks/bench_hdr_io.py --repeats 15
"""
import argparse
import os
import statistics
import tempfile
import time
from os import path as osp
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np

from basicsr_skt.utils.hdr_io import read_hdr, write_hdr

Reader = Callable[[str], np.ndarray]


def radiance_map(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, photograph-like float32 BGR radiance map (log2 luminance with a standard deviation of 2.5 stops)."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 2.5, (max(2, height // 50), max(2, width // 50))).astype(np.float32)
    log_luminance = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    tint = rng.uniform(0.5, 1.5, (max(2, height // 100), max(2, width // 100), 3)).astype(np.float32)
    colour = cv2.resize(tint, (width, height))
    img = np.exp2(log_luminance)[:, :, None] * colour + rng.uniform(0, 0.02, (height, width, 3)).astype(np.float32)
    return np.ascontiguousarray(img, dtype=np.float32)


def bare_reader(path: str) -> np.ndarray:
    """The decoders behind read_hdr, without its header handling and checks."""
    if path.endswith('.exr'):
        import OpenEXR
        with OpenEXR.File(path, separate_channels=True) as exr:
            channels = exr.channels()
            return np.stack([np.asarray(channels[name].pixels, np.float32) for name in 'BGR'], axis=2)
    img = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError('OpenCV cannot decode it')
    return img


def oiio_reader() -> Optional[Reader]:
    """OpenImageIO's reader (float RGB -> BGR), or None when the package is not installed."""
    try:
        import OpenImageIO as oiio
    except ImportError:
        return None
    oiio.attribute('threads', 1)
    oiio.attribute('exr_threads', 1)

    def read(path: str) -> np.ndarray:
        image = oiio.ImageInput.open(path)
        if image is None:
            raise ValueError(oiio.geterror())
        try:
            pixels = image.read_image(format='float')
        finally:
            image.close()
        if pixels is None:
            raise ValueError(oiio.geterror())
        pixels = pixels if pixels.ndim == 3 else pixels[:, :, None]
        return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, 2::-1]

    return read


def relabel_radiance(path: str, out: str, resolution: bytes, extra_header: bytes = b'', before: bytes = b'') -> None:
    """Copy a standard ``.hdr`` (written for this layout) with a new resolution line / header lines."""
    data = open(path, 'rb').read()
    header_end = data.index(b'\n\n') + 2
    data_start = data.index(b'\n', header_end) + 1
    with open(out, 'wb') as f:
        f.write(before + data[:header_end - 1] + extra_header + b'\n' + resolution + b'\n' + data[data_start:])


def variant_files(folder: str, img: np.ndarray) -> Tuple[Dict[str, str], np.ndarray]:
    """Small variant files of ``img`` (label -> path), each meant to read back as ``img`` (up to RGBE rounding),
    and the image the EXR variant must give (``img`` inside a zero border: its display window)."""
    import OpenEXR
    height, width = img.shape[:2]
    files = {}
    write_hdr(osp.join(folder, 'cols.hdr'), np.ascontiguousarray(img.transpose(1, 0, 2)[:, ::-1]))
    files['.hdr +X W +Y H (column scanlines)'] = osp.join(folder, 'v_cols.hdr')
    relabel_radiance(osp.join(folder, 'cols.hdr'), files['.hdr +X W +Y H (column scanlines)'],
                     f'+X {width} +Y {height}'.encode())
    write_hdr(osp.join(folder, 'flip.hdr'), np.ascontiguousarray(img[::-1]))
    files['.hdr +Y H +X W (bottom-up)'] = osp.join(folder, 'v_flip.hdr')
    relabel_radiance(osp.join(folder, 'flip.hdr'), files['.hdr +Y H +X W (bottom-up)'],
                     f'+Y {height} +X {width}'.encode())
    write_hdr(osp.join(folder, 'std.hdr'), img)
    files['.hdr line before #?RADIANCE'] = osp.join(folder, 'v_pre.hdr')
    relabel_radiance(osp.join(folder, 'std.hdr'), files['.hdr line before #?RADIANCE'],
                     f'-Y {height} +X {width}'.encode(), before=b'# exported by a camera tool\n')
    write_hdr(osp.join(folder, 'bright.hdr'), img * 4)
    files['.hdr EXPOSURE=4'] = osp.join(folder, 'v_exposure.hdr')
    relabel_radiance(osp.join(folder, 'bright.hdr'), files['.hdr EXPOSURE=4'], f'-Y {height} +X {width}'.encode(),
                     extra_header=b'EXPOSURE=4\n')
    padded = np.zeros((height + 2, width + 3, 3), np.float32)
    padded[1:-1, 2:-1] = img
    files['.exr data window inside the display window'] = osp.join(folder, 'v_window.exr')
    window = (np.array([2, 1], np.int32), np.array([width + 1, height], np.int32))
    header = {'type': OpenEXR.scanlineimage, 'dataWindow': window,
              'displayWindow': (np.array([0, 0], np.int32), np.array([width + 2, height + 1], np.int32))}
    with OpenEXR.File(header, {name: np.ascontiguousarray(img[:, :, 2 - i]) for i, name in enumerate('RGB')}) as exr:
        exr.write(files['.exr data window inside the display window'])
    files['.pfm little endian'] = osp.join(folder, 'v.pfm')
    write_hdr(files['.pfm little endian'], img)
    return files, padded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--size', default='1000x1500', help='HEIGHTxWIDTH of the timed image (default 1000x1500)')
    parser.add_argument('--repeats', type=int, default=7, help='timed reads per reader and file (median reported)')
    args = parser.parse_args()
    height, width = (int(v) for v in args.size.lower().split('x'))
    cv2.setNumThreads(1)
    import OpenEXR
    if hasattr(OpenEXR, 'set_global_thread_count'):
        OpenEXR.set_global_thread_count(1)
    readers: Dict[str, Reader] = {'read_hdr': read_hdr, 'OpenCV / OpenEXR': bare_reader}
    oiio = oiio_reader()
    if oiio is not None:
        readers['OpenImageIO'] = oiio
    img = radiance_map(height, width)
    with tempfile.TemporaryDirectory() as folder:
        files = {'.hdr (RGBE, RLE)': 'img.hdr', '.exr float32 (ZIP)': 'img.exr', '.exr half (ZIP)': 'half.exr',
                 '.pfm': 'img.pfm'}
        files = {label: osp.join(folder, name) for label, name in files.items()}
        for label, path in files.items():
            write_hdr(path, img, half='half' in label)
        times: Dict[str, Dict[str, List[float]]] = {label: {name: [] for name in readers} for label in files}
        for label, path in files.items():
            for reader in readers.values():
                reader(path)  # warm-up: page cache, lazy imports
            for _ in range(args.repeats):
                for name, reader in readers.items():
                    start = time.perf_counter()
                    reader(path)
                    times[label][name].append(time.perf_counter() - start)
        print(f'Read time, {height} x {width}, median of {args.repeats}, one thread, ms '
              f'(file sizes in MB){"" if oiio else "; OpenImageIO not installed"}\n')
        print('| file | MB | ' + ' | '.join(readers) + ' |')
        print('|---|---:|' + '---:|' * len(readers))
        for label, path in files.items():
            cells = [f'{1000 * statistics.median(times[label][name]):.1f}' for name in readers]
            print(f'| {label} | {os.path.getsize(path) / 1e6:.1f} | ' + ' | '.join(cells) + ' |')

        small = radiance_map(60, 90, seed=1)
        variants, expected_exr = variant_files(folder, small)
        reference = read_hdr(osp.join(folder, 'std.hdr'))  # the RGBE-rounded values every .hdr variant holds
        print('\nVariants (60 x 90): ok = upright BGR radiance as expected, wrong = other pixels, error = refused\n')
        print('| variant | ' + ' | '.join(readers) + ' |')
        print('|---|' + '---|' * len(readers))
        for label, path in variants.items():
            if label.startswith('.exr'):
                expected = expected_exr
            elif label.startswith('.pfm'):
                expected = small
            else:
                expected = reference
            cells = []
            for reader in readers.values():
                try:
                    out = reader(path)
                except Exception as err:  # any failure of any library counts as an error
                    cells.append(f'error ({str(err).splitlines()[0][:40]})')
                    continue
                close = out.shape == expected.shape and np.allclose(out, expected, rtol=0.02, atol=1e-6)
                cells.append('ok' if close else f'wrong{"" if out.shape == expected.shape else " (shape)"}')
            print(f'| {label} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
