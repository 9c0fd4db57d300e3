"""Model files of the detectors: where they are looked up, where they come from, checksums.

The YuNet ONNX networks and the anime-face LBP cascade are not on any package
registry, so comicfaces never downloads them. A user fetches each file from its
upstream repository (see :data:`MODEL_FILES`) and puts it in one of the folders
that :func:`model_search_dirs` lists. Every file is checked against its SHA-256
before it is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODELS_DIR",
    "MODELS_ENV_VAR",
    "MODEL_FILES",
    "ModelChecksumError",
    "ModelFile",
    "ModelNotFoundError",
    "file_sha256",
    "find_model_file",
    "model_search_dirs",
    "require_model_file",
]

#: Environment variable naming a folder of model files.
MODELS_ENV_VAR = "COMICFACES_MODELS"

#: Folder searched last, relative to the user's home directory.
DEFAULT_MODELS_DIR = Path(".cache") / "comicfaces" / "models"


@dataclass(frozen=True)
class ModelFile:
    """Provenance of one model file.

    Attributes
    ----------
    filename : str
        Name the file must have in a models folder.
    description : str
        What the file is and which OpenCV class loads it.
    repository : str
        Upstream GitHub repository, ``owner/name``.
    commit : str
        Upstream commit the checksum was taken from.
    path : str
        Path of the file inside the repository.
    license : str
        License of the file.
    sha256 : str
        Hex SHA-256 of the file.
    """

    filename: str
    description: str
    repository: str
    commit: str
    path: str
    license: str
    sha256: str

    @property
    def url(self) -> str:
        """Raw download address of the file at the pinned commit."""
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/{self.path}"


_LIBFACEDETECTION_TRAIN = ("ShiqiYu/libfacedetection.train", "0047ac24afb1a50a0c6105001c89d1b5b805dbf1")

#: Every model file a detector may load, by file name.
MODEL_FILES: dict[str, ModelFile] = {
    "yunet_n_640_640.onnx": ModelFile(
        filename="yunet_n_640_640.onnx",
        description="YuNet-n face detector (2023), fixed 640x640 input, for cv2.FaceDetectorYN",
        repository=_LIBFACEDETECTION_TRAIN[0],
        commit=_LIBFACEDETECTION_TRAIN[1],
        path="onnx/yunet_n_640_640.onnx",
        license="Apache-2.0",
        sha256="25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31",
    ),
    "yunet_s_640_640.onnx": ModelFile(
        filename="yunet_s_640_640.onnx",
        description="YuNet-s face detector (2023), fixed 640x640 input, for cv2.FaceDetectorYN",
        repository=_LIBFACEDETECTION_TRAIN[0],
        commit=_LIBFACEDETECTION_TRAIN[1],
        path="onnx/yunet_s_640_640.onnx",
        license="Apache-2.0",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    ),
    "lbpcascade_animeface.xml": ModelFile(
        filename="lbpcascade_animeface.xml",
        description="LBP cascade for anime-style faces, for cv2.CascadeClassifier (OpenCV 4.x)",
        repository="nagadomi/lbpcascade_animeface",
        commit="4433ab1ae1166ea75acfe99eb0f18709dac329a0",
        path="lbpcascade_animeface.xml",
        license="MIT",
        sha256="9376d30ac38db6bda2a68b88b3b76bbd7e6aa33af47f7f5c76bc88ca75f1ce30",
    ),
}


class ModelNotFoundError(FileNotFoundError):
    """A model file is in none of the searched folders."""


class ModelChecksumError(ValueError):
    """A model file was found but its SHA-256 differs from the pinned one."""


def model_search_dirs(models_dir: str | os.PathLike | None = None) -> list[Path]:
    """List the folders searched for model files, in order.

    The order is ``models_dir`` (when given), then the folder named by the
    ``COMICFACES_MODELS`` environment variable (when set and not empty), then
    ``~/.cache/comicfaces/models``. The environment and the home directory are
    read on every call, so a change takes effect without a restart.
    """
    dirs: list[Path] = []
    if models_dir is not None and str(models_dir) != "":
        dirs.append(Path(models_dir).expanduser())

    from_env = os.environ.get(MODELS_ENV_VAR, "").strip()
    if from_env:
        dirs.append(Path(from_env).expanduser())

    dirs.append(Path.home() / DEFAULT_MODELS_DIR)

    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def find_model_file(filename: str, models_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the first existing ``filename`` in :func:`model_search_dirs`, or None.

    The file is not read; :func:`require_model_file` also checks its SHA-256.
    """
    for folder in model_search_dirs(models_dir):
        candidate = folder / filename
        if candidate.is_file():
            return candidate
    return None


def missing_model_message(filename: str, models_dir: str | os.PathLike | None = None) -> str:
    """Build the error message for a missing ``filename``: the folders searched and the upstream source."""
    searched = ", ".join(str(folder) for folder in model_search_dirs(models_dir))
    message = (
        f"model file {filename!r} not found; searched: {searched}. "
        f"Put the file in one of these folders, or set the {MODELS_ENV_VAR} environment "
        "variable (or the models_dir option) to the folder that contains it."
    )
    source = MODEL_FILES.get(filename)
    if source is not None:
        message += (
            f" Upstream: {source.repository} at commit {source.commit}, file {source.path} "
            f"({source.url}), license {source.license}, sha256 {source.sha256}."
        )
    return message


@functools.lru_cache(maxsize=32)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and modification time so a replaced file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of a file, cached per path, size and modification time."""
    stat = Path(path).stat()
    return _cached_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def require_model_file(filename: str, models_dir: str | os.PathLike | None = None) -> Path:
    """Find a model file and check its SHA-256.

    Parameters
    ----------
    filename : str
        File name, a key of :data:`MODEL_FILES` for checked files. A name that
        is not a key is found but not checked.
    models_dir : str or path-like, optional
        Folder searched first; see :func:`model_search_dirs`.

    Returns
    -------
    Path
        The file found.

    Raises
    ------
    ModelNotFoundError
        If no searched folder contains the file. The message lists the folders,
        the environment variable and the upstream source.
    ModelChecksumError
        If the file's SHA-256 differs from the pinned one.
    """
    path = find_model_file(filename, models_dir)
    if path is None:
        raise ModelNotFoundError(missing_model_message(filename, models_dir))

    source = MODEL_FILES.get(filename)
    if source is None:
        logger.warning("%s: no pinned SHA-256 for this file name, loading it unchecked", path)
        return path

    actual = file_sha256(path)
    if actual != source.sha256:
        raise ModelChecksumError(
            f"{path}: SHA-256 is {actual}, expected {source.sha256}; the file is damaged or a "
            f"different version. Replace it with {source.path} from {source.repository} at commit "
            f"{source.commit} ({source.url})."
        )
    return path


def resolve_model_path(value: str | os.PathLike, models_dir: str | os.PathLike | None = None) -> Path | None:
    """Return the file a detector parameter names: a path, or a bare file name looked up.

    A bare file name (no folder part) that is not a file in the working folder is
    searched like the bundled model files (see :func:`find_model_file`). Returns
    None when nothing is found.
    """
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.name == str(value):
        return find_model_file(path.name, models_dir)
    return None
