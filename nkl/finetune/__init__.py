"""``[MODEL] type = finetune``: fine-tuning a pretrained speech transformer on the experiment's audio."""
