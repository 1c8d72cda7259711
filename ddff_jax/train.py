"""python -m ddff_jax.train [--config=path/to/config.py[:overrides]] [--workdir=DIR] [--config.train.num_steps=N]

Data-parallel training over every device of every host: a `data` mesh axis carries the batch, parameters are
replicated, and BatchNorm statistics are taken over the global batch (XLA all-reduces them). Checkpoints (model,
optimiser, step; the input pipeline's state is the step) are written every `checkpoint_every` steps and at the end;
a restarted run resumes from the newest readable one and continues exactly. Metrics go to <workdir>/metrics.jsonl,
pictures to <workdir>/pictures/. Multi-host: pass --coordinator_address, --num_processes, --process_id (or set them
up the way `jax.distributed.initialize()` detects on your cluster).
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import time

from ddff_jax import cli
from ddff_jax import errors

_DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), 'configs', 'default.py')


def define_flags():
  from absl import flags
  from ml_collections import config_flags
  config_flags.DEFINE_config_file('config', _DEFAULT_CONFIG, 'Experiment config file (defines get_config()).')
  flags.DEFINE_string('workdir', 'runs/default', 'Where checkpoints, metrics and pictures go.')
  flags.DEFINE_string('coordinator_address', None, 'Multi-host: address of process 0, host:port.')
  flags.DEFINE_integer('num_processes', None, 'Multi-host: number of processes.')
  flags.DEFINE_integer('process_id', None, 'Multi-host: this process.')
  flags.DEFINE_bool('progress', True, 'Show a progress bar.')


def check_config(config) -> None:
  """One-line errors for training settings that cannot run (rather than a run that trains nothing)."""
  for key in ('train.num_steps', 'train.batch_size', 'log_every', 'eval_every', 'checkpoint_every'):
    section, _, name = key.rpartition('.')
    value = (config[section] if section else config).get(name)
    if not isinstance(value, int) or value < 1:
      raise errors.UserError(f'--config.{key} must be a positive integer, got {value!r}.')
  if not 0.0 <= config.train.get('ema_decay', 0.0) < 1.0:
    raise errors.UserError(f'--config.train.ema_decay must be in [0, 1) (0: no weight averaging), got '
                           f'{config.train.ema_decay!r}.')
  if config.train.optimizer not in ('sgd', 'adam'):
    raise errors.UserError(f"--config.train.optimizer must be 'sgd' or 'adam', got {config.train.optimizer!r}.")


def make_optimizer(train_config, steps_per_epoch: int):
  import optax
  kind = train_config.get('schedule', 'staircase')
  if kind == 'cosine':  # to zero at the last step: the final model is not caught mid-oscillation
    schedule = optax.cosine_decay_schedule(train_config.learning_rate, train_config.num_steps)
  elif kind == 'staircase':  # the paper's: × lr_decay every lr_decay_epochs
    decay_steps = max(1, int(train_config.lr_decay_epochs * steps_per_epoch))
    schedule = optax.exponential_decay(train_config.learning_rate, decay_steps, train_config.lr_decay, staircase=True)
  else:
    raise errors.UserError(f"train.schedule must be 'staircase' or 'cosine', got {kind!r}.")
  parts = [optax.clip_by_global_norm(train_config.grad_clip)] if train_config.grad_clip else []
  if train_config.weight_decay:
    parts.append(optax.add_decayed_weights(train_config.weight_decay))  # L2 on the loss, as the paper
  if train_config.optimizer == 'sgd':
    parts.append(optax.sgd(schedule, momentum=train_config.momentum))
  elif train_config.optimizer == 'adam':
    parts.append(optax.adam(schedule))
  else:
    raise errors.UserError(f"train.optimizer must be 'sgd' or 'adam', got {train_config.optimizer!r}.")
  return optax.chain(*parts), schedule


def train_and_evaluate(config, workdir: str, progress: bool = True) -> dict:
  """Trains `config`'s model on its data in `workdir` (resuming from the newest readable checkpoint), validating
  and checkpointing as the config says; returns the final report (model vs classical DFF vs a constant)."""
  import jax
  import numpy as np
  from flax import nnx
  from jax.sharding import NamedSharding, PartitionSpec as P

  from ddff_jax import checkpoints, compiler, metrics, tasks, visualize
  from ddff_jax.data import pipeline, sources
  from ddff_jax.models import registry
  from ddff_jax.models.registry import build_model

  check_config(config)
  checkpoints.prepare_workdir(workdir, config)
  num_devices = jax.device_count()
  if config.train.batch_size % num_devices:
    raise errors.UserError(f'train.batch_size={config.train.batch_size} does not split over {num_devices} devices.')
  mesh = make_mesh()
  data_sharding, replicated = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())

  spec = sources.data_spec(config.data)
  task = tasks.build_task(spec, config.train.get('loss', ''))
  task.check_model(registry.model_class(config.model.name))
  train_source = sources.build_split(config.data, config.seed, 'train')
  val_source = sources.build_split(config.data, config.seed, 'validation')
  augment = pipeline.Augment(crop=tuple(config.data.crop), flip=config.data.flip,
                             transpose=config.data.get('transpose', False), map_fields=(task.target,),
                             depth_scales=tuple(config.data.get('depth_scales', ())))
  steps_per_epoch = max(1, len(train_source) // config.train.batch_size)
  tx, schedule = make_optimizer(config.train, steps_per_epoch)

  ema_decay = config.train.get('ema_decay', 0.0)

  def create():
    model = build_model(config.model, config.seed)
    state = {'model': model, 'optimizer': nnx.Optimizer(model, tx, wrt=nnx.Param)}
    if ema_decay:
      state['ema'] = nnx.clone(model)
    return state

  # Every process initialises the same replicated state inside one compiled call (device_put of host-local
  # values cannot target the devices of other processes).
  graphdef, _ = nnx.split(nnx.eval_shape(create))
  state = jax.jit(lambda: nnx.state(create()), out_shardings=replicated)()

  train_step = make_train_step(graphdef, task, ema_decay)

  # Validation: every process feeds the whole chunk (replicated) and reads back its local copy of the output.
  @functools.partial(jax.jit, out_shardings=replicated, compiler_options=compiler.options())
  def predict(state, stack):
    merged = nnx.merge(graphdef, state)
    model = merged['ema' if ema_decay else 'model']
    model.eval()
    return task.predict(model, stack)

  latest, best = checkpoints.managers(workdir, config.keep_checkpoints)
  step, restored = checkpoints.restore_newest_readable(latest, dict(state))
  start = 0
  if restored is not None:
    state = nnx.State(restored)
    start = step
    print(f'resuming from step {step} in {workdir}', flush=True)
  elif config.train.get('init_weights'):
    state = load_initial_weights(graphdef, state, config, replicated)
  log = MetricsLog(os.path.join(workdir, 'metrics.jsonl'), keep_until=start)
  tensorboard = TensorBoardLog(os.path.join(workdir, 'tensorboard'), enabled=config.get('tensorboard', True))

  def validate(state):
    preds, per_image = [], []
    for i in range(0, len(val_source), config.train.batch_size):
      chunk = val_source[slice(i, i + config.train.batch_size)]
      stack = jax.make_array_from_process_local_data(replicated, np.asarray(chunk['stack']))
      pred = np.asarray(predict(state, stack).addressable_data(0))
      preds.append(pred)
      per_image += [task.image_metrics(p, g) for p, g in zip(pred, chunk[task.target])]
    return metrics.mean_over_images(per_image), np.concatenate(preds)

  def save(manager, done, **kwargs):
    checkpoints.save(manager, done, state, config, spec, **kwargs)

  bar = _progress(start, config.train.num_steps, progress and jax.process_index() == 0)
  t0, seen = time.perf_counter(), 0
  history = {}
  batches = iter(pipeline.grain_batches(train_source, config.train.batch_size, config.seed, augment,
                                        start_step=start, num_steps=config.train.num_steps))
  for step in range(start, config.train.num_steps):
    batch = pipeline.to_global(next(batches), data_sharding)
    state, stats = train_step(state, batch)
    seen += 1
    done = step + 1
    if done % config.log_every == 0 or done == config.train.num_steps:
      stats = jax.device_get(stats)
      rate = seen * config.train.batch_size / (time.perf_counter() - t0)
      record = {'step': done, 'train_loss': float(stats['loss']), 'grad_norm': float(stats['grad_norm']),
                'learning_rate': float(schedule(done)), 'stacks_per_second': rate}
      log.write(record)
      tensorboard.write(record)
      bar.update(done, f'loss {record["train_loss"]:.3g}  {rate:.1f} stacks/s')
      t0, seen = time.perf_counter(), 0
    is_eval = done % config.eval_every == 0 or done == config.train.num_steps
    summary = None
    if is_eval:
      summary, preds = validate(state)
      record = {'step': done, **{f'val_{k}': v for k, v in summary.items()}}
      log.write(record)
      tensorboard.write(record)
      history = summary
      if jax.process_index() == 0:
        name = task.selection_metric
        visualize.save_prediction_panel(os.path.join(workdir, 'pictures', f'val_step{done:06d}.png'),
                                        val_source[0]['stack'], val_source[0][task.target], preds[0],
                                        title=f'step {done}: validation {name.upper()} {summary[name]:.3g}',
                                        value_name=task.value_name, signed=spec.valid_range is None)
    if done % config.checkpoint_every == 0 or done == config.train.num_steps:
      save(latest, done)
    if summary is not None:
      save(best, done, metrics={'selection': summary[task.selection_metric]})
  if not history:  # the run had already finished: report on its final state
    history, _ = validate(state)
  latest.wait_until_finished()
  best.wait_until_finished()
  bar.close()
  tensorboard.close()
  return final_report(workdir, val_source, task, history, config)


def load_initial_weights(graphdef, state, config, sharding):
  """A fresh run's model weights from `train.init_weights` (a VGG-16 file fills the encoder, the DDFFNet TF export
  everything; see `models.pretrained`); every process reads the file and places the same values."""
  import jax
  import numpy as np
  from flax import nnx

  from ddff_jax.models import pretrained

  if config.model.name != 'ddffnet':
    raise errors.UserError(f'train.init_weights loads DDFFNet weights; this config trains {config.model.name!r}.')
  merged = nnx.merge(graphdef, state)
  model = merged['model']
  try:
    report = pretrained.load_weights(model, config.train.init_weights)
  except errors.UserError as e:
    raise errors.UserError(f'train.init_weights: {e}') from e
  print(f'initialised {len(report.loaded)} weight arrays from {config.train.init_weights}', flush=True)
  loaded = nnx.state(model, weights_filter())
  placed = jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), loaded)
  for name in ('model', 'ema'):  # the weight average starts from the loaded weights too
    if name in merged:
      nnx.update(merged[name], placed)
  return nnx.state(merged)


def make_mesh():
  """A 1-D mesh over every device of every host; Auto axes let XLA propagate the batch sharding through the model
  (and all-reduce BatchNorm statistics and gradients)."""
  import jax
  return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(jax.sharding.AxisType.Auto,))


def weights_filter():
  """The model's weights: parameters and BatchNorm statistics (what initial weights fill and the average averages)."""
  from flax import nnx
  return nnx.Any(nnx.Param, nnx.BatchStat)


def make_train_step(graphdef, task, ema_decay: float = 0.0):
  """The compiled step: (state {'model', 'optimizer'[, 'ema']}, batch) -> (new state, {'loss', 'grad_norm'}).
  With `ema_decay` d > 0, state['ema'] is the model with every parameter and BatchNorm statistic averaged over the
  steps: after update t, ema ← dₜ·ema + (1 − dₜ)·model with dₜ = min(d, (1 + t)/(10 + t)) (as TensorFlow's
  ExponentialMovingAverage with num_updates: early on the initial weights are forgotten fast). Validation and
  checkpoints.load use it."""
  import jax
  import jax.numpy as jnp
  import optax
  from flax import nnx

  from ddff_jax import compiler
  from ddff_jax.models import layers

  weights = weights_filter()

  @functools.partial(jax.jit, donate_argnums=(0,), compiler_options=compiler.options())
  def train_step(state, batch):
    merged = nnx.merge(graphdef, state)
    model, optimizer = merged['model'], merged['optimizer']
    model.train()
    with layers.xla_kernel_gradients(compiler.native_kernel_gradients()):
      loss, grads = nnx.value_and_grad(lambda m: task.loss(m, batch))(model)
    optimizer.update(model, grads)
    if ema_decay:
      updates = optimizer.step.value.astype(jnp.float32)
      decay = jnp.minimum(ema_decay, (1.0 + updates) / (10.0 + updates))
      averaged = nnx.state(merged['ema'], weights)
      live = nnx.state(model, weights)
      nnx.update(merged['ema'], jax.tree.map(lambda a, x: decay * a + (1.0 - decay) * x, averaged, live))
    return nnx.state(merged), {'loss': loss, 'grad_norm': optax.global_norm(grads)}

  return train_step


def final_report(workdir, val_source, task, model_summary, config):
  """Compares the trained model with a constant predictor (the validation median, the best constant for the
  absolute error) and the classical focus-measure DFF on the validation set."""
  import jax
  import numpy as np
  from ddff_jax import files, metrics

  gts = val_source[:][task.target]
  valid = np.isfinite(gts) if task.spec.valid_range is None else gts > 0  # signed (HCI) or 0 = missing
  median = float(np.median(gts[valid]))
  constant = metrics.mean_over_images([task.image_metrics(np.full_like(g, median), g) for g in gts])
  classical = metrics.mean_over_images([task.image_metrics(task.classical(s), g)
                                        for s, g in zip(val_source[:]['stack'], gts)])
  report = {'step': config.train.num_steps, 'selection_metric': task.selection_metric, 'model': model_summary,
            'constant': constant, 'classical_dff': classical}
  if jax.process_index() == 0:
    files.write_json(os.path.join(workdir, 'final_metrics.json'), report)
    name = task.selection_metric
    print(f'validation {name.upper()} — model {model_summary.get(name, float("nan")):.4g}, classical DFF '
          f'{classical[name]:.4g}, constant {task.target} {constant[name]:.4g}  ({workdir}/final_metrics.json)',
          flush=True)
  return report


class TensorBoardLog:
  """Scalars for TensorBoard when `tensorboardX`, or TensorFlow with TensorBoard, is installed (process 0);
  otherwise nothing (metrics.jsonl always has them)."""

  def __init__(self, logdir: str, enabled: bool = True):
    import jax
    self.writer = None
    if not (enabled and jax.process_index() == 0):
      return
    try:
      from tensorboardX import SummaryWriter
      self.writer = SummaryWriter(logdir)
      self._scalar = lambda name, value, step: self.writer.add_scalar(name, value, step)
    except ImportError:
      try:
        import tensorboard  # noqa: F401  (tf.summary needs it)
        import tensorflow as tf
      except ImportError:
        return
      self.writer = tf.summary.create_file_writer(logdir)

      def scalar(name, value, step):
        with self.writer.as_default():
          tf.summary.scalar(name, value, step=step)
      self._scalar = scalar

  def write(self, record: dict):
    if self.writer is not None:
      for name, value in record.items():
        if name != 'step' and isinstance(value, (int, float)) and math.isfinite(value):
          self._scalar(name, value, record['step'])

  def close(self):
    if self.writer is not None:
      self.writer.flush()
      self.writer.close()


class MetricsLog:
  """Append-only JSONL; on resume, records after the restored step (written by the killed run) are dropped."""

  def __init__(self, path: str, keep_until: int):
    self.path = path
    import jax
    from ddff_jax import files
    self.enabled = jax.process_index() == 0
    if self.enabled and os.path.exists(path):
      with open(path) as f:
        rows = [r for r in (json.loads(l) for l in f if l.strip()) if r.get('step', 0) <= keep_until]
      files.write_text(path, ''.join(files.json_text(r) + '\n' for r in rows))

  def write(self, record: dict):
    if self.enabled:
      from ddff_jax import files
      with open(self.path, 'a') as f:
        f.write(files.json_text(record) + '\n')


class _progress:
  def __init__(self, start, total, enabled):
    self.bar = None
    if enabled:
      from tqdm import tqdm
      self.bar = tqdm(total=total, initial=start, desc='train', dynamic_ncols=True, file=sys.stderr)
    self.last = start

  def update(self, step, text):
    if self.bar is not None:
      self.bar.update(step - self.last)
      self.bar.set_postfix_str(text)
    self.last = step

  def close(self):
    if self.bar is not None:
      self.bar.close()


def main(argv):
  import jax
  from absl import flags
  values = flags.FLAGS
  if values.coordinator_address:
    jax.distributed.initialize(values.coordinator_address, values.num_processes, values.process_id)
  train_and_evaluate(cli.loaded_config(values.config), values.workdir, values.progress)


if __name__ == '__main__':
  cli.run(main, define_flags)
