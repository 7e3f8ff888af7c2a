"""Scene generators: data made from nothing or from HDR photographs, never imported by training.

* :mod:`~basicsr_skt.synthesis.demo_scenes`: procedural demo scenes (radiance, camera steps, scene folders).
* :mod:`~basicsr_skt.synthesis.synthetic_brackets`: sRGB brackets simulated from HDR radiance maps, with the local
  motion and occluders of :mod:`~basicsr_skt.synthesis.moving_region`.
* :mod:`~basicsr_skt.synthesis.raw_synthesis`: BracketIRE-format RAW brackets from the same captures.
* :mod:`~basicsr_skt.synthesis.splits`: train / validation / test splits by source photograph.

The scripts ``make_demo_data.py``, ``make_synthetic_brackets.py`` and ``make_raw_brackets.py`` run them. This package
builds on ``utils/`` (and may use ``skb/``); ``data/`` (what training reads) never imports it.
"""
