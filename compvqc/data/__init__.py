"""Datasets: IDX reader, preprocessing, synthetic sets, named datasets with splits."""

from compvqc.data.registry import DATASETS, Dataset, Split, load_dataset

__all__ = ["DATASETS", "Dataset", "Split", "load_dataset"]
