"""Fine-tuning as an expert writes it with plain transformers: no padding at tokenization time
(DataCollatorWithPadding pads each batch to its own longest text), batches of similar lengths
(`train_sampling_strategy="group_by_length"`), batch 32, learning rate 1e-4 with 6% linear
warm-up then linear decay, weight decay 0.01, evaluation batch 128, no mid-run checkpoints, fp32.
"""

import common  # first: sets the environment and starts the process clock

from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                          TrainingArguments)

BATCH = 32

args = common.parse_args(__doc__)
common.install_probes()
dataset, labels = common.load_splits(args.train, args.eval)
tokenizer = AutoTokenizer.from_pretrained(common.minilm_path())
dataset = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=args.max_length),
                      batched=True)
model = AutoModelForSequenceClassification.from_pretrained(common.minilm_path(), num_labels=len(labels))

training_args = TrainingArguments(
    output_dir=args.out,
    num_train_epochs=args.epochs,
    per_device_train_batch_size=BATCH,
    per_device_eval_batch_size=128,
    learning_rate=1e-4,
    warmup_steps=0.06,  # transformers 5: below 1 it is a fraction of the steps (warmup_ratio is gone)
    lr_scheduler_type="linear",
    weight_decay=0.01,
    train_sampling_strategy="group_by_length",  # transformers 5 spelling of group_by_length=True
    **common.eval_schedule(args.eval_every, BATCH),
    save_strategy="no",
    seed=args.train_seed,
)
recorder = common.eval_recorder()
trainer = Trainer(model=model, args=training_args, train_dataset=dataset["train"], eval_dataset=dataset["eval"],
                  data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=common.accuracy,
                  callbacks=[recorder])
trainer.train()
common.report("expert", recorder.curve, recorder.train_end_s,
              {"batch_size": BATCH, "lr": training_args.learning_rate, "padding": "dynamic, group_by_length",
               "max_length": args.max_length, "precision": "fp32", "eval_steps": training_args.eval_steps})
