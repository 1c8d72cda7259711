"""Every notebook runs top to bottom on tiny settings (nbclient, a fresh kernel, the repo's interpreter)."""
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / 'notebooks').glob('*.ipynb'))


# The notebooks that train networks take minutes even on tiny settings: `pytest --runslow` runs them too.
SLOW = {'02_train_ddffnet.ipynb', '03_ddfs_camera_invariance.ipynb', '04_real_light_fields.ipynb',
        '05_your_focal_stack.ipynb'}


@pytest.mark.parametrize('path', [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p
                                  for p in NOTEBOOKS], ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
  nbformat = pytest.importorskip('nbformat')
  nbclient = pytest.importorskip('nbclient')
  from conftest import SHARED_DATA
  monkeypatch.setenv('DDFF_NOTEBOOK_SIZE', '32' if ('train' in path.name or 'ddfs' in path.name) else '64')
  monkeypatch.setenv('DDFF_NOTEBOOK_STEPS', '6')
  monkeypatch.setenv('DDFF_SHARED_DATA', str(SHARED_DATA))
  monkeypatch.setenv('MPLBACKEND', 'Agg')
  notebook = nbformat.read(path, as_version=4)
  nbclient.NotebookClient(notebook, timeout=600, kernel_name='python3',
                          resources={'metadata': {'path': str(path.parent)}}).execute()
