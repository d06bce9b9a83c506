"""Train architectures with the NAS-KAN authors' protocol and record the metrics.

Usage::

    >>> from kanbench.training import train_architecture
    >>> record = train_architecture("31.51.48S", "digits", epochs=5, seed=0, progress=False)
    >>> record.to_dict()["test_accuracy"]

Needs the ``train`` extra (torch, torchvision, scikit-learn, tqdm).
"""

from kanbench.training.checkpoint import load_checkpoint, save_checkpoint
from kanbench.training.data import DatasetSplits, ImageSplit, load_dataset, split_train_valid
from kanbench.training.metrics import classification_metrics
from kanbench.training.record import TrainingRecord
from kanbench.training.trainer import train_architecture

__all__ = [
    "DatasetSplits",
    "ImageSplit",
    "TrainingRecord",
    "classification_metrics",
    "load_checkpoint",
    "load_dataset",
    "save_checkpoint",
    "split_train_valid",
    "train_architecture",
]
