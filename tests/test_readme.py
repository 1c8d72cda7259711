"""The README's command lines and Python blocks run verbatim, in a fresh folder beside a `../shared` link to the real
data (as in a checkout next to it): the TFDS block in a process where TensorFlow cannot be imported.

The one liberty: `python3 -m ddff_jax.train` lines get tiny-run overrides appended (the last value of a flag wins),
so that the training they start takes seconds instead of minutes; the default job itself is command 1 of the
README, which `test_readme_command_1_trains_the_main_job` runs unchanged (slow)."""
import json
import os

import numpy as np
import pytest

from conftest import SHARED_DATA, readme_blocks as _blocks, readme_commands as _commands, run_command as _run


def _no_nan(constant):
  raise AssertionError(f'{constant} is not JSON')


def test_readme_tool_lines_run_and_write_what_the_readme_says(readme_folder):
  work = readme_folder
  if not (work / 'stack').is_dir():
    pytest.skip(f'the README\'s HCI lines need the real scenes, not found at {SHARED_DATA} (set DDFF_SHARED_DATA)')
  assert (work / 'runs' / 'default' / 'checkpoints').is_dir()
  report = json.loads((work / 'runs' / 'default' / 'eval' / 'metrics.json').read_text())
  assert report['metrics']['num_images'] == 2 and np.isfinite(report['metrics']['mse'])
  for name in ('metrics.csv', 'badpix_curve.png', 'panel_000.png'):
    assert (work / 'runs' / 'default' / 'eval' / name).is_file(), name
  # The classical DFF on backgammon, through refocus -> slice images -> predict: close to the real ground truth.
  from ddff_jax.data import formats
  gt = formats.read_pfm(SHARED_DATA / 'hci' / 'stratified' / 'backgammon' / 'gt_disp_lowres.pfm')
  assert len(list((work / 'stack').glob('slice_*.png'))) == 10
  classical = np.load(work / 'pred' / 'disparity.npy')
  assert classical.shape == (512, 512) and np.median(np.abs(classical - gt)) < 0.25
  assert (work / 'pred' / 'disparity.png').is_file() and not (work / 'pred' / 'depth.npy').exists()
  # The trained model refocused the light field to its own focus disparities (no --disparities) and drew a panel
  # against the HCI ground truth; HCI input gets no DDFF-camera depth.
  assert np.load(work / 'pred_model' / 'disparity.npy').shape == (512, 512)
  assert (work / 'pred_model' / 'panel.png').is_file() and not (work / 'pred_model' / 'depth.npy').exists()
  # Standard JSON: the ratio metrics, undefined for signed disparities, are null rather than Python's NaN.
  hci_report = json.loads((work / 'runs' / 'eval_classical' / 'metrics.json').read_text(), parse_constant=_no_nan)
  assert hci_report['metrics']['abs_rel'] is None and hci_report['metrics']['num_images'] == 1
  assert hci_report['metrics']['mse'] == pytest.approx(float(np.mean((classical - gt) ** 2)), rel=0.05)


def test_readme_python_blocks_run_verbatim(readme_folder):
  """The quick start and the trained-model block, in one interpreter, where the tool lines left runs/default."""
  blocks = [b for b in _blocks('python') if 'tensorflow_datasets' not in b]
  assert len(blocks) == 2
  checks = """
import numpy as np
print('RESULT', float(np.median(np.abs(np.asarray(optics.depth_from_focus(stack, disparities)) - truth))),
      np.asarray(disparity).shape)
"""
  result = _run(['python3', '-c', '\n'.join(blocks) + checks], readme_folder)
  assert result.returncode == 0, result.stderr[-3000:]
  line = [l for l in result.stdout.splitlines() if l.startswith('RESULT')][0]
  error, shape = float(line.split()[1]), line.split(maxsplit=2)[2]
  assert error < 0.3 and shape == '(128, 128)'  # slices 0.56 px apart: the DFF lands within about half a step
  assert 'median error' in result.stdout


@pytest.mark.slow  # a TFDS build in a subprocess; the builder itself is tested in test_data.py
def test_readme_tfds_block_runs_without_tensorflow(tmp_path):
  """Builds `ddff12scene/synthetic` as the README writes it (no file_format argument) where TensorFlow is not
  installed, as in the README's test environment."""
  import importlib.util
  if importlib.util.find_spec('tensorflow') is not None:
    pytest.skip('TensorFlow is installed here; this check runs where it is not (the README\'s test command)')
  block = [b for b in _blocks('python') if 'tensorflow_datasets' in b]
  assert len(block) == 1
  code = ('import sys\n' + block[0] + """
import numpy as np
e = train[0]
assert e['stack'].shape == (10, 64, 64, 3) and e['stack'].dtype == np.uint8
assert 0.0202 <= e['disparity'].min() and e['disparity'].max() <= 0.2825
print('RESULT', len(train), 'tensorflow' in sys.modules)
""")
  env = dict(os.environ, TFDS_DATA_DIR=str(tmp_path / 'tfds'))
  result = _run(['python3', '-c', code], tmp_path, env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert [l for l in result.stdout.splitlines() if l.startswith('RESULT')][0] == 'RESULT 64 False'
  assert list((tmp_path / 'tfds').rglob('*.array_record*'))


@pytest.mark.slow
def test_readme_command_1_trains_the_main_job(tmp_path):
  """Command 1 verbatim (minus the install, done by the test environment): the default job, minutes on 2 cores."""
  command = _commands(_blocks('bash')[0])[0]
  install, train = command[:command.index('&&')], command[command.index('&&') + 1:]
  assert install[:5] == ['python3', '-m', 'pip', 'install', '-q']
  result = _run(train, tmp_path, timeout=3600)
  assert result.returncode == 0, result.stderr[-3000:]
  final = json.loads((tmp_path / 'runs' / 'default' / 'final_metrics.json').read_text())
  assert final['model']['mse'] < final['classical_dff']['mse'] and final['model']['mse'] < final['constant']['mse']
  assert list((tmp_path / 'runs' / 'default' / 'pictures').glob('val_step*.png'))
