"""The training engine: transformers.Trainer with the field's defaults switched on.

Dynamic padding + length-grouped batches, warm-up then linear/cosine decay, AdamW with weight
decay, clipping, accumulation, early stopping with the best checkpoint restored, bf16 where the
hardware computes it natively, seeded runs, a progress bar with loss and ETA, and checkpoints that
are only trusted once complete (a kill during a save leaves the previous one usable).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Sampler, SequentialSampler
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments
from transformers.utils import logging as transformers_logging
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_utils import has_length, rotate_checkpoints

from tailor.config import Config
from tailor.console import say
from tailor.distributed import barrier, is_main_process
from tailor.errors import ConfigError
from tailor.io import atomic_write_text
from tailor.runs import save_folder_atomically
from tailor.training.adversarial import Adversary, adversary_for
from tailor.training.batching import Batching, TokenBudgetBatchSampler, batching_for
from tailor.training.inference import length_order
from tailor.training.optimizers import l1_penalty, layerwise_groups, optim_args

COMPLETE_MARKER = "tailor-complete"
transformers_logging.disable_progress_bar()  # per-save "Writing model shards" bars; ours shows the run


@dataclass
class FitResult:
    trainer: Trainer
    history: list[dict]
    best_checkpoint: str | None
    global_step: int
    runtime_s: float
    samples_per_s: float
    precision: str
    batching: "Batching"

    def release_trainer(self) -> None:
        """Drop the trainer with the model and optimizer it holds (the weights are saved by then)."""
        from tailor.training.memory import release_free_memory

        self.trainer = None
        release_free_memory()


def fit(model, processor, train_set, eval_set, task, cfg: Config, data, checkpoint_dir: Path,
        resume: bool = False, callbacks: tuple = (), teacher=None) -> FitResult:
    """Train with the best checkpoint restored at the end. `resume` continues from the latest
    complete checkpoint. The task supplies the collator, the metrics logged at each evaluation (or
    none: then the eval loss decides) and optionally a loss that replaces the model's own; a
    `teacher` (training/distillation.py) mixes its answers into that loss."""
    from tailor.tasks.base import metric_named

    precision = choose_precision(cfg.train.precision, task.cpu_precision)
    if precision == "bf16":
        norm_outputs_in_autocast_dtype(model)
        if cfg.method == "lora":
            frozen_weights_in_bf16(model)
    compute_metrics = task.training_metrics(cfg, data.labels)
    best = metric_named(task, cfg.eval.metric)
    # (multi-task's loss is one per row too, whatever its heads learn: tasks/multi_task.py)
    batching = batching_for(cfg, train_set.lengths, one_target_per_row=task.targets in ("classes", "numbers", "heads"))
    say(batching.describe(cfg.train.grad_accum))
    args = training_arguments(cfg, checkpoint_dir, len(train_set.lengths), precision, best.greater_is_better,
                              batching, loss_only=compute_metrics is None)
    callbacks = [LossProgressCallback(), *callbacks]
    if cfg.train.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.train.early_stopping_patience))
    trainer = CheckpointSafeTrainer(model=model, args=args, train_dataset=train_set.dataset,
                                    eval_dataset=eval_set.dataset.select(length_order(eval_set.lengths)),
                                    data_collator=task.collator(processor, cfg), compute_metrics=compute_metrics,
                                    preprocess_logits_for_metrics=predicted_ids if compute_metrics else None,
                                    processing_class=processor, callbacks=callbacks)
    trainer.use_task_loss(_training_loss(task, cfg, data, teacher))
    trainer.layer_lr_decay, trainer.l1 = cfg.train.layer_lr_decay, cfg.train.l1
    trainer.adversary = adversary_for(cfg.train, model)
    trainer.train_lengths = train_set.lengths
    trainer.batching = batching
    # Our bar replaces the stock one, which prints every log as a raw dict.
    handler = trainer.callback_handler
    handler.callbacks = [cb for cb in handler.callbacks if type(cb) not in (ProgressCallback, PrinterCallback)]
    start = latest_complete_checkpoint(checkpoint_dir) if resume else None
    if resume and start is None:
        say(f"--resume: no complete checkpoint in {checkpoint_dir} yet; training starts from step 0")
    barrier()  # every process resumes from the same checkpoint (incomplete ones were just removed)
    output = trainer.train(resume_from_checkpoint=str(start) if start else None)
    return FitResult(
        trainer=trainer,
        history=trainer.state.log_history,
        best_checkpoint=trainer.state.best_model_checkpoint,
        global_step=trainer.state.global_step,
        runtime_s=float(output.metrics.get("train_runtime", 0.0)),
        samples_per_s=float(output.metrics.get("train_samples_per_second", 0.0)),
        precision=precision,
        batching=batching,
    )


def _training_loss(task, cfg: Config, data, teacher):
    loss = task.loss(cfg, data)
    if teacher is None:
        return loss
    from tailor.training.distillation import distillation_loss

    if loss is None:
        raise ConfigError(f"distill.teacher: task {task.name} trains with its model's own loss, which a teacher's "
                          "answers cannot be mixed into")
    return distillation_loss(loss, teacher, cfg.distill.temperature, cfg.distill.alpha)


def predicted_ids(logits, labels):
    """In-loop metrics need the predicted class of each row (or token), not the logits: the trainer
    keeps this for the whole evaluation set, so memory stays a small multiple of the labels'. A head
    with one output answers a number: that is kept as it is."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits[..., 0] if logits.shape[-1] == 1 else logits.argmax(-1)


def save_trained_model(trainer: Trainer, folder: Path, finish) -> None:
    """model/ written through the trainer, so that sharded weights (FSDP, ZeRO-3) are gathered first;
    then `finish(tmp)` on the main process (e.g. a LoRA merge), and one atomic rename."""
    tmp = folder.with_name(f".{folder.name}.saving")
    if is_main_process():
        shutil.rmtree(tmp, ignore_errors=True)
    barrier()
    trainer.save_model(str(tmp))  # every process takes part; only the main one writes
    if is_main_process():
        # The trainer adds its arguments as a pickle: not for a folder people load and share.
        (tmp / "training_args.bin").unlink(missing_ok=True)
        finish(tmp)
        save_folder_atomically(folder, lambda target: tmp.rename(target))
    barrier()


def training_arguments(cfg: Config, checkpoint_dir: Path, n_train: int, precision: str,
                       greater_is_better: bool, batching: Batching, loss_only: bool = False) -> TrainingArguments:
    t, e = cfg.train, cfg.eval
    if batching.plan:
        steps_per_epoch = math.ceil(batching.plan.steps_per_epoch / t.grad_accum)
        rows = max(1, round(batching.plan.mean_rows))  # only for the trainer's own sample counts
    else:
        steps_per_epoch = math.ceil(n_train / batching.step_rows)
        rows = t.batch_size
    total_steps = t.max_steps or math.ceil(steps_per_epoch * t.epochs)
    args = TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=rows,
        per_device_eval_batch_size=e.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=batching.lr,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        lr_scheduler_type=t.scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a value below 1 is a fraction of the steps
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        optim=t.optimizer,
        optim_args=optim_args(cfg),
        seed=t.seed,
        data_seed=t.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False},  # works with frozen embeddings and LoRA
        prediction_loss_only=loss_only,
        remove_unused_columns=False,  # tasks build exactly the columns their model takes
        # Batches of similar length: with dynamic padding, little compute is spent on pad tokens.
        train_sampling_strategy="group_by_length",
        eval_strategy=e.strategy,
        eval_steps=e.steps,
        save_strategy=e.strategy,
        save_steps=e.steps,
        save_total_limit=cfg.output.keep_checkpoints,
        load_best_model_at_end=t.restore_best,
        # Without in-loop metrics (chat, question answering) the evaluation loss picks the checkpoint.
        metric_for_best_model="loss" if loss_only else e.metric,
        greater_is_better=False if loss_only else greater_is_better,
        logging_strategy="steps",
        logging_steps=max(1, total_steps // 50),  # about 50 points on the loss curve
        logging_first_step=True,
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=not is_main_process(),
        log_level_replica="error",  # the other processes would repeat every warning
        ddp_find_unused_parameters=False,  # every trainable weight gets a gradient each step
    )
    if args.n_gpu > 1:
        # One process seeing several GPUs would split each batch with nn.DataParallel, whose replicas
        # a task loss cannot follow; one process per GPU (torchrun) is the supported way.
        say(f"{args.n_gpu} GPUs but one process: training on one GPU; use torchrun --nproc_per_node "
            f"{args.n_gpu} -m tailor train ... to use them all")
        args._n_gpu = 1
    return args


def frozen_weights_in_bf16(model: torch.nn.Module) -> int:
    """Under LoRA the base model never changes and is not saved (model/ is the adapter, merged into
    a fresh fp32 copy), so all of it is held in bf16, the dtype autocast multiplies in: activations
    then flow in bf16 from the embedding on, instead of being copied fp32 -> bf16 at every linear
    layer of every pass, and the base takes half the memory. Norms still compute in fp32 inside
    (autocast runs layer_norm in fp32; Llama-style RMSNorm upcasts itself). The adapter's weights stay
    fp32, the optimizer's master copy, which autocast casts once per forward; peft's own cast of each
    activation up to the adapter's dtype is switched off (autocast would cast it straight back).
    SmolLM2 LoRA step: -12 % (benchmarks/chat_vs_trl.py, issue 17). BatchNorm keeps fp32, as its
    running statistics are. Returns the weights converted.

    What is not converted is then copied out of the checkpoint file: from_pretrained maps the file
    into memory, and while one tensor still points into that mapping, every page of it that was
    ever read counts in the process's memory beside the bf16 copies (SmolLM2: 300 MB)."""
    batch_norm = {id(p) for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
                  for p in m.parameters()}
    converted = 0
    for parameter in model.parameters():
        if not parameter.requires_grad and id(parameter) not in batch_norm and parameter.dtype == torch.float32:
            parameter.data = parameter.data.to(torch.bfloat16)
            converted += parameter.numel()
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dtype != torch.bfloat16:
            tensor.data = tensor.data.clone()
    for module in model.modules():
        if hasattr(module, "cast_input_dtype_enabled"):  # peft's adapter layers (peft.helpers.disable_input_dtype_casting)
            module.cast_input_dtype_enabled = False
    return converted


def norm_outputs_in_autocast_dtype(model: torch.nn.Module) -> int:
    """Under autocast, layer_norm computes in fp32 and returns fp32, and every linear layer that
    reads its output copies it down again (q, k and v each their own copy, in every pass). A norm's
    output is cast once instead: a MiniLM step of 32 x 32 tokens -7 %, 64 x 32 -11 % (issue 17).
    The norm itself still computes in fp32; where its output is the residual stream (post-norm
    BERT), that stream is then held in bf16, as in a model stored in bf16. Outside autocast
    (a model evaluated in fp32) nothing changes. Returns the norms hooked."""
    hooked = 0
    for module in model.modules():
        if isinstance(module, torch.nn.LayerNorm) or type(module).__name__.endswith("RMSNorm"):
            module.register_forward_hook(_output_in_autocast_dtype)
            hooked += 1
    return hooked


def _output_in_autocast_dtype(module, args, output):
    if not isinstance(output, torch.Tensor) or not torch.is_autocast_enabled(output.device.type):
        return None  # keep the output as it is
    return output.to(torch.get_autocast_dtype(output.device.type))


def choose_precision(requested: str, cpu_choice: str | None = None) -> str:
    """'auto' picks bf16 mixed precision only where the hardware computes bf16 natively; on a CPU, a
    task may have measured another choice for its models (`cpu_choice`)."""
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if cpu_choice:
        return cpu_choice
    native_bf16 = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bf16" if native_bf16 else "fp32"


class CheckpointSafeTrainer(Trainer):
    """Marks a checkpoint complete only after every file is written, and rotates old ones after that,
    so a kill in the middle of a save never costs the last good checkpoint. Every log entry also
    carries `elapsed_s` (wall time since this process began training) for time-to-quality plots."""

    def _get_eval_sampler(self, eval_dataset):
        # fit() sorts the evaluation set by length already. The stock sampler under group_by_length
        # shuffles it into mega-batches of one batch each when the set is small (1,000 rows at
        # batch 128), so every batch padded to the longest text: twice the evaluation compute.
        return SequentialSampler(eval_dataset) if has_length(eval_dataset) else None

    def train(self, *args, **kwargs):
        self._tailor_started = time.perf_counter()
        return super().train(*args, **kwargs)

    def log(self, logs, *args, **kwargs):
        logs["elapsed_s"] = round(time.perf_counter() - getattr(self, "_tailor_started", time.perf_counter()), 3)
        super().log(logs, *args, **kwargs)

    task_loss = None  # a task's own loss: (model, inputs, num_items_in_batch) -> (loss, outputs or None)
    layer_lr_decay: float | None = None  # train.layer_lr_decay
    l1: float = 0.0  # train.l1
    adversary: Adversary | None = None  # train.adversarial
    _adversarial_pass = False

    def training_step(self, model, inputs, num_items_in_batch=None):
        """With train.adversarial, the clean and the adversarial pass are each transformers' own step (its
        scaling for accumulation, mixed precision and gradient sync apply to both); the clean loss is logged."""
        if self.adversary is None:
            return super().training_step(model, inputs, num_items_in_batch)
        inputs = self._prepare_inputs(inputs)
        stock_step = super().training_step

        def forward_backward(adversarial: bool):
            self._adversarial_pass = adversarial  # train.l1's penalty goes with the clean loss only
            return stock_step(model, inputs, num_items_in_batch)

        def forward():
            self._adversarial_pass = True
            with self.compute_loss_context_manager():
                return self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)

        try:
            clean, _ = self.adversary.step(self.accelerator.unwrap_model(model).get_input_embeddings(),
                                           inputs.get("attention_mask"), forward_backward, forward,
                                           lambda: self.accelerator.no_sync(model))
        finally:
            self._adversarial_pass = False
        return clean

    def create_optimizer(self, model=None):
        """transformers' optimizer, with one group per layer's learning rate under train.layer_lr_decay."""
        if self.layer_lr_decay is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        groups = layerwise_groups(opt_model, self.args.learning_rate, self.layer_lr_decay, self.args.weight_decay,
                                  set(self.get_decay_parameter_names(opt_model)))
        self.optimizer = optimizer_cls(groups, **kwargs)
        return self.optimizer
    train_lengths: list[int] | None = None  # each training row's length, from the task's encoding
    batching: "Batching | None" = None

    def use_task_loss(self, loss) -> None:
        """A task loss divides its sum by num_items_in_batch (all targets of the accumulated global
        batch), so the trainer must count them (it does when it thinks the model takes loss kwargs)
        and must not divide by the accumulation steps again. Without a task loss the model's own
        per-batch mean is used as such: no counting, divided by the accumulation steps, and not
        multiplied by the number of processes (which transformers does for any model whose forward
        takes **kwargs, BERT's included, whatever its loss)."""
        self.task_loss = loss
        self.model_accepts_loss_kwargs = loss is not None
        self.loss_is_scaled_for_ga = loss is not None

    def _get_train_sampler(self, train_dataset=None):
        """Length-grouped batches from the task's own row lengths (the stock sampler looks for an
        `input_ids` column; a task's rows may hold pixels or packed tokens)."""
        if self.train_lengths is None:
            return super()._get_train_sampler(train_dataset)
        args = self.args
        if self.batching is not None and self.batching.plan is not None:
            plan = self.batching.plan
            return TokenBudgetBatchSampler(self.train_lengths, plan.tokens, plan.max_rows, processes=args.world_size,
                                           rank=args.process_index, seed=args.data_seed or args.seed,
                                           steps_per_epoch=plan.steps_per_epoch)
        return GlobalLengthGroupedSampler(self.train_lengths, args.train_batch_size * args.gradient_accumulation_steps
                                          * args.world_size, seed=args.data_seed or args.seed)

    _predicting = False

    def prediction_step(self, *args, **kwargs):
        self._predicting = True
        try:
            return super().prediction_step(*args, **kwargs)
        finally:
            self._predicting = False

    def _get_num_items_in_batch(self, batch_samples, device):
        # In evaluation each process's batch is scored on its own (its loss a mean over its own
        # targets), as one process scores the same batch; the count summed over processes is for
        # the training step, whose gradients DDP averages.
        if self._predicting:
            return None
        return super()._get_num_items_in_batch(batch_samples, device)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.task_loss is None:
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)
        # The task's loss may call parts of the model directly, around the autocast that
        # accelerate wraps the top-level forward in, so mixed precision is applied here.
        with self.accelerator.autocast():
            loss, outputs = self.task_loss(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and not self._predicting:
            loss = loss * self._row_weight(num_items_in_batch)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch counts every process's items, and DDP averages gradients over the
            # processes: scaled back as transformers does for a model's own loss.
            loss = loss * self.accelerator.num_processes
        if self.l1 and model.training and not self._adversarial_pass:
            loss = loss + self._l1_term(model)
        return (loss, outputs if outputs is not None else {"loss": loss}) if return_outputs else loss

    _decayed: set[str] | None = None

    def _l1_term(self, model):
        """train.l1's penalty for this micro-step: the trainer does not divide a task loss by the
        accumulation steps, so it is divided here (once per optimizer step in all); added after the
        scaling by the number of processes, because every process adds the same penalty and DDP
        averages their gradients."""
        if self._decayed is None:
            self._decayed = set(self.get_decay_parameter_names(model))
        return self.l1 * l1_penalty(model, self._decayed) / self.args.gradient_accumulation_steps

    def _row_weight(self, num_items_in_batch):
        """A task loss divides by the step's targets. With one target per row and token-budget
        batches (many short rows a step, or few long ones) each row would weigh 1 / the rows of its
        step, a long text several times a short one; divided by the plan's mean rows per step
        instead, every row weighs the same, as in fixed batches. (Per-token targets need nothing:
        a token budget keeps the targets per step about constant.)"""
        batching = self.batching
        if batching is None or batching.plan is None or not batching.one_target_per_row:
            return 1.0
        return num_items_in_batch / batching.step_rows

    def _issue_warnings_after_load(self, load_result) -> None:
        """A tied weight (T5's input embeddings and output layer are one matrix) is saved once, under
        one name: loading the best checkpoint back finds the other names "missing", though they are
        the very tensor that was loaded. Only truly missing keys are worth a warning."""
        tied = _tied_names(self.model)
        load_result.missing_keys[:] = [key for key in load_result.missing_keys if key not in tied]
        super()._issue_warnings_after_load(load_result)

    def _save_checkpoint(self, model, trial):
        limit = self.args.save_total_limit
        self.args.save_total_limit = None  # no rotation until the new checkpoint is complete
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        # Complete only once every process has written its part (its RNG state, its shards).
        self.accelerator.wait_for_everyone()
        if not self.args.should_save:
            return
        run_dir = Path(self._get_output_dir(trial=trial))
        atomic_write_text(run_dir / f"checkpoint-{self.state.global_step}" / COMPLETE_MARKER, "ok\n")
        if limit:
            rotate_checkpoints(output_dir=str(run_dir), save_total_limit=limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)


def _tied_names(model) -> set[str]:
    """Names of the parameters that share their tensor with another parameter."""
    names: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(parameter), []).append(name)
    return {name for group in names.values() if len(group) > 1 for name in group}


class GlobalLengthGroupedSampler(Sampler):
    """Rows grouped by length in batches of the global batch (every process, every accumulation
    step), in an order drawn from its own generator seeded by seed + epoch: every process draws the
    same order whatever else consumed random numbers, and each takes its contiguous share of each
    global batch, so N processes at batch B see the same rows per step as one process at N x B."""

    def __init__(self, lengths: list[int], global_batch: int, seed: int):
        self.lengths, self.global_batch, self.seed, self.epoch = lengths, global_batch, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        from transformers.trainer_pt_utils import get_length_grouped_indices

        generator = torch.Generator().manual_seed(self.seed + int(self.epoch))
        return iter(get_length_grouped_indices(self.lengths, self.global_batch, generator=generator))


def latest_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint whose save finished. Unfinished ones (a kill mid-save) are removed (by
    the main process) so that nothing downstream mistakes them for usable."""
    if not checkpoint_dir.is_dir():
        return None
    found = sorted((p for p in checkpoint_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]))
    complete = [p for p in found if (p / COMPLETE_MARKER).exists()]
    for partial in found:
        if partial not in complete and is_main_process():
            shutil.rmtree(partial, ignore_errors=True)
    return complete[-1] if complete else None


class LossProgressCallback(ProgressCallback):
    """The usual tqdm bar (steps, rate, ETA) with the running loss in it, and one line per evaluation
    instead of raw log dictionaries."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", lr=f"{logs.get('learning_rate', 0):.2e}")
        elif "eval_loss" in logs:
            timings = ("runtime", "per_second", "elapsed")
            shown = {k.removeprefix("eval_"): v for k, v in logs.items()
                     if k.startswith("eval_") and isinstance(v, float) and not any(t in k for t in timings)}
            text = "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
            self.training_bar.write(f"epoch {logs.get('epoch', 0):.2f}  step {state.global_step}  eval: {text}",
                                    file=sys.stderr)
