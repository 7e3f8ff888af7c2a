"""The harder synthetic recipe of Evidence v2: Kalantari's exposure convention, bright references, noise gain and
occluders that hide content from every frame."""
import json

import numpy as np
import pytest

from basicsr_skt.synthesis.demo_scenes import DemoSceneConfig, render_scene, scene_rng
from basicsr_skt.synthesis.synthetic_brackets import (DARK_LEVEL, BracketConfig, bracket_rng, occluded_somewhere,
                                                      scene_shares, simulate_bracket, write_bracket)

HARD = dict(evs=(0.0, 2.0, 4.0), ref_clipped_share=(0.08, 0.12), object_speed=(14.0, 18.0),
            object_size=(0.12, 0.16))


@pytest.fixture(scope='module')
def radiance() -> np.ndarray:
    """A procedural radiance map (window, lights, textures), 160 x 224."""
    return render_scene(scene_rng(0, 7, 0), DemoSceneConfig(height=160, width=224)).gt


def test_bright_reference_hits_the_requested_clipped_share_and_gt_stays_below_one(radiance):
    for seed in range(3):
        bracket = simulate_bracket(radiance, BracketConfig(**HARD, max_shift=0.0), bracket_rng(seed, 'bright'))
        drawn = bracket.info['clipped_share_drawn']
        assert 0.08 <= drawn <= 0.12
        ref_saturated = float(np.mean(bracket.frames[1].max(axis=2) == 65535))
        assert bracket.info['fraction_ref_saturated'] == ref_saturated
        # the drawn share is reached unless the GT cap lowered the exposure
        assert ref_saturated <= drawn + 0.01
        assert bracket.fraction_above_one <= 0.02 + 1e-3
        if bracket.fraction_above_one < 0.019:
            assert abs(ref_saturated - drawn) < 0.01
        # Kalantari's convention: GT > 1 only where the shortest frame (t = 1) clips too
        brightest = bracket.gt.max(axis=2)
        static = ~bracket.motion_mask
        assert np.all(bracket.frames[0].max(axis=2)[static & (brightest > 1.1)] == 65535)
        assert np.all(bracket.frames[0].max(axis=2)[static & (brightest < 0.9)] < 65535)


def test_reference_relative_evs_put_every_clipped_pixel_above_one(radiance):
    config = BracketConfig(evs=(-2.0, 0.0, 2.0), ref_clipped_share=(0.1, 0.1), max_gt_above_one=1.0,
                           shot_noise=0.0, read_noise=0.0, max_shift=0.0, object_speed=(0.0, 0.0))
    bracket = simulate_bracket(radiance, config, bracket_rng(0, 'rel'))
    clipped = bracket.frames[1].max(axis=2) == 65535
    assert 0.09 < clipped.mean() < 0.11
    assert np.all(bracket.gt.max(axis=2)[clipped] >= 1.0 - 1e-4)


def test_occluder_hides_clipped_content_from_every_frame(radiance):
    config = BracketConfig(**HARD, occluder='clipped', max_shift=0.0, shot_noise=0.0, read_noise=0.0)
    bracket = simulate_bracket(radiance, config, bracket_rng(1, 'occluded'))
    missing = bracket.missing_mask
    assert bracket.info['occluder_placement'] == 'clipped'
    assert missing.mean() == pytest.approx(bracket.info['fraction_missing'])
    brightest = bracket.gt.max(axis=2)
    occluded = missing & (brightest * 4.0 >= 1.0) & (brightest < 1.0)  # clipped in the reference, not in the short
    # frame: it could show them, were the object not in front
    assert occluded.sum() > 50
    short, ref, long = bracket.frames
    expected_short = np.round(np.clip(bracket.gt, 0, 1)**(1 / 2.2) * 65535).astype(np.uint16)
    assert np.all(ref.max(axis=2)[occluded] == 65535) and np.all(long.max(axis=2)[occluded] == 65535)
    # the shortest frame shows the moving object there, not the reference's content
    assert np.all(np.abs(short.astype(int) - expected_short).max(axis=2)[occluded] > 8)
    visible = ~bracket.motion_mask & (bracket.gt.max(axis=2) < 1.0)  # static and unclipped in the short frame
    np.testing.assert_allclose(short[visible], expected_short[visible], atol=1)  # float32 rounding
    # random placement covers clipped pixels less often than the targeted one
    random = simulate_bracket(radiance, BracketConfig(**HARD, max_shift=0.0), bracket_rng(1, 'occluded'))
    assert bracket.info['fraction_missing_occluded'] > random.info['fraction_missing_occluded']


def test_noise_gain_scales_the_noise_and_is_reported(radiance):
    quiet = BracketConfig(**dict(HARD, object_speed=(0.0, 0.0)), max_shift=0.0)
    loud = BracketConfig(**dict(HARD, object_speed=(0.0, 0.0)), max_shift=0.0, noise_gain=(16.0, 16.0))
    residual = []
    for config in (quiet, loud):
        bracket = simulate_bracket(radiance, config, bracket_rng(0, 'noise'))
        signal = bracket.gt * 1.0  # shortest frame, t = 1
        ok = (signal.max(axis=2) < 0.9) & (signal.min(axis=2) > 0.05)
        linear = (bracket.frames[0] / 65535.0)**2.2
        residual.append(float(np.std((linear - signal)[ok])))
    assert residual[1] / residual[0] == pytest.approx(np.sqrt(16.0), rel=0.25)
    assert simulate_bracket(radiance, loud, bracket_rng(0, 'noise')).info['noise_gain'] == 16.0


def test_bracket_info_reports_the_shares(radiance, tmp_path):
    bracket = simulate_bracket(radiance, BracketConfig(**HARD, occluder='mixed'), bracket_rng(2, 'info'))
    write_bracket(bracket, str(tmp_path / 'scene'))
    info = json.loads((tmp_path / 'scene' / 'bracket_info.json').read_text())
    shares = scene_shares(info)
    assert shares['motion'] == pytest.approx(float(bracket.motion_mask.mean()))
    assert shares['saturated'] == pytest.approx(float(np.mean(bracket.frames[1].max(axis=2) == 65535)))
    assert shares['dark'] == pytest.approx(float(np.mean(bracket.gt.max(axis=2) * 4.0 < DARK_LEVEL)))
    assert 0 <= shares['missing_occluded'] <= shares['missing'] <= shares['saturated'] + shares['dark']
    assert info['occluder_placement'] in ('none', 'clipped', 'dark')


def test_defaults_are_unchanged_by_the_new_options(radiance):
    old = simulate_bracket(radiance, BracketConfig(), bracket_rng(0, 'same'))
    new = simulate_bracket(radiance, BracketConfig(noise_gain=(1.0, 1.0), occluder='none'), bracket_rng(0, 'same'))
    for a, b in zip(old.frames, new.frames):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match='occluder'):
        BracketConfig(occluder='somewhere')
    with pytest.raises(ValueError, match='ref_clipped_share'):
        BracketConfig(ref_clipped_share=(0.3, 0.1))


def test_free_motion_hides_the_whole_footprint_not_a_crescent(radiance):
    """``object_motion='free'``: the covering frame's ellipse does not overlap the reference one, so the clipped
    reference pixels under it are missing; linear motion of the same size and seed hides far less (a crescent)."""
    config = dict(HARD, occluder='clipped', max_shift=0.0, shot_noise=0.0, read_noise=0.0)
    free = simulate_bracket(radiance, BracketConfig(**config, object_motion='free'), bracket_rng(1, 'free'))
    region = free.info['moving_region']
    assert region['motion'] == 'free' and len(region['centres_yx']) == 3
    assert free.object_offsets[1] == (0, 0)
    assert np.hypot(*free.object_offsets[0]) >= 2 * max(region['semi_axes_yx'])  # disjoint positions
    clipped_ref = free.gt.max(axis=2) * 4.0 >= 1.0
    hidden = free.missing_mask & occluded_somewhere(free, BracketConfig(**config, object_motion='free'))
    assert np.all(clipped_ref[hidden]) and np.all(free.motion_mask[hidden])
    assert free.info['fraction_missing_occluded'] == pytest.approx(0.01107, abs=1e-4)
    linear = simulate_bracket(radiance, BracketConfig(**config), bracket_rng(1, 'free'))
    assert linear.info['fraction_missing_occluded'] < 0.002


def test_covering_occluder_always_hides_clipped_or_dark_content(radiance):
    placements = {simulate_bracket(radiance, BracketConfig(**HARD, occluder='covering', object_motion='free'),
                                   bracket_rng(seed, 'cover')).info['occluder_placement'] for seed in range(6)}
    assert placements <= {'clipped', 'dark'} and placements
    with pytest.raises(ValueError, match='object_motion'):
        BracketConfig(object_motion='teleport')
