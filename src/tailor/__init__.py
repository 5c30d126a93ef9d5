"""tailor: adapt a pretrained model to your own labelled data.

    from tailor import train, evaluate, predict
    run = train("config.yaml", overrides=["train.lr=3e-5"])
    evaluate(run.dir, "more.csv")
    predict(run.dir, texts=["what a great day"])
"""

from tailor.api import check, compress, evaluate, export, predict, train
from tailor.errors import ConfigError, DataError, ExportError, ModelError, RunError, TailorError

__all__ = ["train", "evaluate", "predict", "check", "export", "compress", "TailorError", "ConfigError", "DataError",
           "ExportError", "ModelError", "RunError"]
__version__ = "0.1.0"
