"""Sweeps: grid expansion, sweep files, result tables, LaTeX export."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from comicfaces.cache import Workspace
from comicfaces.config import PipelineConfig
from comicfaces.sweep import SweepSpec, list_sweeps, load_sweep, load_sweep_table, run_sweep, to_latex


def _write(path, text):
    path.write_text(text)
    return path


def test_grid_expands_params():
    spec = SweepSpec(
        {"faces": "x"},
        PipelineConfig(),
        {"clustering": [{"name": "hdbscan", "grid": {"min_cluster_size": [3, 4, 5]}}, {"name": "kmeans", "params": {"n_clusters": 2}}]},
    )
    configs = spec.configurations()
    assert len(configs) == 4
    assert [c.clustering.params.get("min_cluster_size") for c in configs[:3]] == [3, 4, 5]
    assert configs[3].clustering.name == "kmeans"


def test_grid_is_product_of_stages():
    grid = {"features": [{"name": "hog"}, {"name": "color_hist"}], "clustering": [{"name": "hdbscan"}, {"name": "kmeans", "params": {"n_clusters": 3}}]}
    assert len(SweepSpec({"faces": "x"}, PipelineConfig(), grid).configurations()) == 4


def test_sweep_file_relative_paths(tmp_path):
    path = _write(tmp_path / "sweep.yaml", "input: {faces: crops, labels: labels.csv}\ngrid: {clustering: [{name: hdbscan}]}\n")
    spec = load_sweep(path)
    assert spec.input["faces"] == str(tmp_path / "crops")


@pytest.mark.parametrize(
    "text, message",
    [
        ("grid: {}\n", "exactly one of"),
        ("input: {faces: a, pages: b}\n", "exactly one of"),
        ("input: {faces: a}\ngrid: {clusterin: [{name: kmeans}]}\n", "unknown grid stage"),
        ("input: {faces: a}\ngrid: {clustering: {name: kmeans}}\n", "non-empty list"),
        ("input: {faces: a}\ngrid: {clustering: [{params: {}}]}\n", "with a 'name'"),
        ("input: {faces: a}\ngrid: {clustering: [{name: nope}]}\n", "nope"),
        ("input: {faces: a}\ngrid: {clustering: [{name: hdbscan, grid: {min_cluster_size: 3}}]}\n", "non-empty list"),
        ("input: {faces: a}\nextra: 1\n", "unknown key"),
    ],
)
def test_bad_sweep_file(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_sweep(_write(tmp_path / "sweep.yaml", text))


def test_missing_sweep_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.yaml"):
        load_sweep(tmp_path / "nothing.yaml")


@pytest.fixture(scope="module")
def crops(tmp_path_factory, shared_data):
    """Five faces of each of four comicgen characters, with labels."""
    folder = tmp_path_factory.mktemp("crops")
    labels = pd.read_csv(shared_data / "comicgen_faces" / "labels.csv")
    subset = labels[labels["identity"].isin(["aryan", "ava", "bean", "bill"])].groupby("identity").head(5)
    (folder / "faces").mkdir()
    for name in subset["image_name"]:
        shutil.copy(shared_data / "comicgen_faces" / "faces" / name, folder / "faces" / name)
    subset[["image_name", "identity"]].to_csv(folder / "labels.csv", index=False)
    return folder


def test_run_sweep_table_and_cache(tmp_path, crops):
    path = _write(
        tmp_path / "sweep.yaml",
        f"input: {{faces: {crops / 'faces'}, labels: {crops / 'labels.csv'}}}\n"
        "grid:\n  features: [{name: color_hist}]\n"
        "  clustering: [{name: kmeans, grid: {n_clusters: [2, 4, 30]}}]\n",
    )
    workspace = Workspace(tmp_path / "ws")
    table = run_sweep(workspace, load_sweep(path))
    assert len(table) == 3
    assert table["pairwise_f1_excl_noise"].iloc[:2].between(0, 1).all()
    assert "30" in table["error"].iloc[2]
    assert table["n_clusters"].iloc[1] == 4

    again = run_sweep(workspace, load_sweep(path))
    assert again["cached"].iloc[:2].all()
    assert list_sweeps(workspace)[0]["key"] == table.attrs["key"]
    stored = load_sweep_table(workspace, table.attrs["key"])
    assert list(stored["clustering"]) == list(table["clustering"])


def test_latex_marks_best_and_escapes():
    table = pd.DataFrame(
        {
            "features": ["hog", "color_hist"],
            "reduction": ["none", "none"],
            "clustering": ["k_means", "hdbscan"],
            "pairwise_f1_excl_noise": [0.5, 0.75],
            "davies_bouldin": [0.4, 0.9],
        }
    )
    latex = to_latex(table)
    assert r"\textbf{0.750}" in latex
    assert r"\textbf{0.400}" in latex
    assert r"k\_means" in latex
    assert latex.startswith(r"\begin{tabular}")
