"""The supervised stage's trees at scoring time: LightGBM's own C library, called through ctypes.

Only the library's predictor runs here, on the model text that `fit` wrote: the same C function
`lightgbm.Booster.predict` calls, so the raw scores are the same bit for bit. Importing the
`lightgbm` Python package instead would also import pandas, scikit-learn and scipy when they are
installed, none of which scoring needs. The library is loaded the first time a model is.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64
_ROW_MAJOR = 1
_PREDICT_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE
# One thread: a micro-batch is small, and threads fight the consumer for its cores.
_PREDICT_PARAMETERS = b"num_threads=1"


class TreeError(ValueError):
    """LightGBM refuses the model text or a prediction."""


class MissingLightGBM(TreeError):
    """LightGBM is not installed."""


def _library() -> ctypes.CDLL:
    """Load lib_lightgbm from the installed lightgbm package, without importing the package.

    Not cached: the loader hands back the library already loaded, and a test may uninstall
    the package (`sys.modules["lightgbm"] = None`) after another loaded it.
    """
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise MissingLightGBM(
            "the bundle has a supervised stage, which needs LightGBM: "
            "pip install 'fraudstream[stage]'"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (package / "lib" / "lib_lightgbm.so", package / "bin" / "lib_lightgbm.so"):
        if candidate.is_file():
            library = ctypes.cdll.LoadLibrary(str(candidate))
            library.LGBM_GetLastError.restype = ctypes.c_char_p
            return library
    raise MissingLightGBM(f"LightGBM is installed in {package} but its library file is missing")


def _check(library: ctypes.CDLL, code: int) -> None:
    if code != 0:
        raise TreeError(library.LGBM_GetLastError().decode(errors="replace"))


class TreeModel:
    """A LightGBM model loaded from its text, predicting raw scores (log-odds) in one call."""

    def __init__(self, text: str):
        self._library = library = _library()
        self.text = text
        self._handle = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        _check(
            library,
            library.LGBM_BoosterLoadModelFromString(
                ctypes.c_char_p(text.encode()), ctypes.byref(iterations), ctypes.byref(self._handle)
            ),
        )
        self.n_inputs = self._count(library.LGBM_BoosterGetNumFeature)
        self.n_classes = self._count(library.LGBM_BoosterGetNumClasses)
        self.n_trees = self._count(library.LGBM_BoosterNumberOfTotalModel)

    def _count(self, function) -> int:
        out = ctypes.c_int(0)
        _check(self._library, function(self._handle, ctypes.byref(out)))
        return out.value

    def raw_score(self, inputs: np.ndarray) -> np.ndarray:
        """Return the log-odds of fraud for each row of a (rows, n_inputs) matrix."""
        inputs = np.ascontiguousarray(inputs, dtype=np.float64)
        if inputs.ndim != 2 or inputs.shape[1] != self.n_inputs:
            raise TreeError(f"the stage expects {self.n_inputs} input columns")
        out = np.empty(len(inputs), dtype=np.float64)
        if len(inputs) == 0:
            return out
        written = ctypes.c_int64(0)
        _check(
            self._library,
            self._library.LGBM_BoosterPredictForMat(
                self._handle,
                inputs.ctypes.data_as(ctypes.c_void_p),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(inputs.shape[0]),
                ctypes.c_int32(inputs.shape[1]),
                ctypes.c_int(_ROW_MAJOR),
                ctypes.c_int(_PREDICT_RAW_SCORE),
                ctypes.c_int(0),  # from the first iteration
                ctypes.c_int(-1),  # to the last
                ctypes.c_char_p(_PREDICT_PARAMETERS),
                ctypes.byref(written),
                out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ),
        )
        if written.value != len(inputs):
            raise TreeError(f"LightGBM returned {written.value} scores for {len(inputs)} rows")
        return out

    def to_text(self) -> str:
        """Return the model in LightGBM's text format, as it was loaded."""
        return self.text

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._library.LGBM_BoosterFree(handle)
