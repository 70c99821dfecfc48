"""Local runs of the project on one machine, with no AWS: the data scientist's train-and-serve loop."""
