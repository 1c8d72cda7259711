import numpy as np
import pytest

from ddff_jax.data import formats, hci


def test_pfm_reader_flips_bottom_up_rows_and_reads_both_endiannesses(tmp_path):
  image = np.arange(12, dtype=np.float32).reshape(3, 4)  # top row first
  little = tmp_path / 'little.pfm'
  little.write_bytes(b'Pf\n4 3\n-1.0\n' + image[::-1].astype('<f4').tobytes())  # PFM: bottom row first
  big = tmp_path / 'big.pfm'
  big.write_bytes(b'Pf\n4 3\n1.0\n' + image[::-1].astype('>f4').tobytes())
  np.testing.assert_array_equal(formats.read_pfm(little), image)
  np.testing.assert_array_equal(formats.read_pfm(big), image)
  colour = np.random.default_rng(0).random((5, 2, 3)).astype(np.float32)
  formats.write_pfm(tmp_path / 'c.pfm', colour)
  np.testing.assert_array_equal(formats.read_pfm(tmp_path / 'c.pfm'), colour)


def test_pfm_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match='PFM file not found'):
    formats.read_pfm(tmp_path / 'missing.pfm')
  (tmp_path / 'bad.pfm').write_bytes(b'P6\n1 1\n255\n\x00\x00\x00')
  with pytest.raises(ValueError, match='not a PFM file'):
    formats.read_pfm(tmp_path / 'bad.pfm')
  (tmp_path / 'short.pfm').write_bytes(b'Pf\n4 3\n-1\n' + b'\x00' * 8)
  with pytest.raises(ValueError, match='expected 12'):
    formats.read_pfm(tmp_path / 'short.pfm')


def test_hci_reader_on_a_written_folder(tmp_path):
  rng = np.random.default_rng(1)
  views = rng.integers(0, 256, (3, 3, 6, 7, 3), dtype=np.uint8)
  for i in range(9):
    formats.write_png(tmp_path / f'input_Cam{i:03d}.png', views[i // 3, i % 3])
  gt = rng.random((6, 7)).astype(np.float32)
  formats.write_pfm(tmp_path / 'gt_disp_lowres.pfm', gt)
  (tmp_path / 'parameters.cfg').write_text('[meta]\ndisp_min = -1.5\ndisp_max = 0.5\nscene = toy\n')
  scene = hci.read_hci_scene(tmp_path)
  np.testing.assert_array_equal(scene.light_field, views)  # view index = 3·row + column
  np.testing.assert_array_equal(scene.disparity, gt)
  assert scene.disparity_range == (-1.5, 0.5) and scene.parameters['meta']['scene'] == 'toy'
  (tmp_path / 'input_Cam004.png').unlink()
  with pytest.raises(ValueError, match='N×N grid'):
    hci.read_hci_scene(tmp_path)
  with pytest.raises(FileNotFoundError, match='no views'):
    hci.read_hci_scene(tmp_path.parent)


def test_real_hci_scenes_load(backgammon):
  assert backgammon.light_field.shape == (9, 9, 512, 512, 3) and backgammon.light_field.dtype == np.uint8
  assert backgammon.disparity.shape == (512, 512)
  lo, hi = backgammon.disparity_range
  assert lo - 0.3 <= backgammon.disparity.min() and backgammon.disparity.max() <= hi + 0.3
  assert backgammon.parameters['extrinsics']['baseline_mm'] == 30.0
