"""Datasets: IDX reader, preprocessing, synthetic sets, named datasets with splits."""

from compvqc.data.registry import DATASETS, Dataset, Split, check_reference, load_dataset, load_reference

__all__ = ["DATASETS", "Dataset", "Split", "check_reference", "load_dataset", "load_reference"]
