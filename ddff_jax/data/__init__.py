"""Data: file-format readers, HCI light-field scenes, synthetic scenes, the DDFF 12-Scene readers and pipelines."""
