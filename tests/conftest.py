"""Shared fixtures: the real HCI data in ../shared/data (read in place, never copied) and the `slow` marker."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get('DDFF_SHARED_DATA', REPO.parent / 'shared' / 'data'))
HCI_ROOT = SHARED_DATA / 'hci'


def pytest_addoption(parser):
  parser.addoption('--runslow', action='store_true', default=False, help='also run tests marked slow')


def pytest_collection_modifyitems(config, items):
  if config.getoption('--runslow'):
    for item in items:
      item.own_markers = [m for m in item.own_markers if m.name != 'slow']


def hci_scene_path(name: str) -> pathlib.Path:
  """Path of an HCI scene such as 'stratified/backgammon'; skips the test with a clear reason when absent."""
  path = HCI_ROOT / name
  if not (path / 'input_Cam040.png').is_file():
    pytest.skip(f'real HCI scene {name!r} not found at {path} (set DDFF_SHARED_DATA to the shared data folder)')
  return path


@pytest.fixture(scope='session')
def backgammon():
  from ddff_jax.data.hci import read_hci_scene
  return read_hci_scene(hci_scene_path('stratified/backgammon'))


@pytest.fixture(scope='session')
def antinous():
  from ddff_jax.data.hci import read_hci_scene
  return read_hci_scene(hci_scene_path('additional/antinous'))
