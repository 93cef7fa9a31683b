"""Pipelines declared in YAML: what a well-formed file gives, and for each way a file can be
wrong, the message that names its file, line, pipeline and node before any run."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from project.lib.datasets.errors import DatasetError, PipelineError
from project.lib.datasets.pipelines import (
    load_parameters,
    load_pipelines,
    parameter,
    parse_overrides,
    read_pipeline,
    with_overrides,
)

FUNCTIONS = '''
def double(frame):
    """Every amount twice."""
    return frame.assign(amount=frame["amount"] * 2)


def split(frame, threshold):
    """Rows at or above the threshold, and the rest."""
    return frame[frame["amount"] >= threshold], frame[frame["amount"] < threshold]


def named(frame):
    return {"big": frame, "small": frame.head(0)}


def join(left, right):
    return left
'''

DATASETS = {"shop.raw", "shop.doubled", "shop.big", "shop.small", "shop.joined"}


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A conf tree with parameters, and a module of node functions on sys.path."""
    package = tmp_path / "code"
    package.mkdir()
    (package / "shop_nodes.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "shop_nodes", raising=False)
    conf = tmp_path / "conf"
    (conf / "base" / "pipelines").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters.yml").write_text(
        "shop:\n  threshold: 10\n  window: {days: 30, weekdays: true}\n"
    )
    write(conf, GOOD)
    return conf


def write(conf: Path, body: str, name: str = "shop") -> Path:
    path = conf / "base" / "pipelines" / f"{name}.yml"
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def load(conf: Path, datasets: set[str] = DATASETS):
    return load_pipelines(
        conf, parameters=load_parameters(conf, "local"), is_dataset=datasets.__contains__
    )


GOOD = """
shop:
  description: Amounts doubled, then split.
  tags: [shop]
  nodes:
    - func: shop_nodes.double
      inputs: shop.raw
      outputs: shop.doubled
      tags: [staging]
    - name: split_by_threshold
      func: shop_nodes.split
      inputs: {frame: shop.doubled, threshold: "params:shop.threshold"}
      outputs: [shop.big, shop.small]
"""


def test_a_pipeline_file_gives_nodes_with_their_wiring_tags_and_docstrings(conf: Path) -> None:
    [pipeline] = load(conf)
    double, split = pipeline.nodes
    assert pipeline.name == "shop"
    assert pipeline.description == "Amounts doubled, then split."
    assert (double.name, double.line) == ("double", 5)  # default name: the function's
    assert double.description == "Every amount twice."
    assert double.tags == ("shop", "staging")  # pipeline tags first, then the node's
    assert split.tags == ("shop",)
    assert split.datasets == ("shop.doubled",)
    assert split.inputs == ("shop.doubled", "params:shop.threshold")
    assert split.uses_parameters
    assert not double.uses_parameters
    assert split.outputs == ("shop.big", "shop.small")


def test_a_node_runs_its_function_and_splits_the_result_by_output(conf: Path) -> None:
    [pipeline] = load(conf)
    frame = pd.DataFrame({"amount": [1, 6, 20]})
    doubled = pipeline.node("double").run({"shop.raw": frame}, load_parameters(conf, "local"))
    assert doubled["shop.doubled"]["amount"].tolist() == [2, 12, 40]
    parts = pipeline.node("split_by_threshold").run(
        {"shop.doubled": doubled["shop.doubled"]}, load_parameters(conf, "local")
    )
    assert parts["shop.big"]["amount"].tolist() == [12, 40]
    assert parts["shop.small"]["amount"].tolist() == [2]


def test_a_result_that_does_not_fit_the_outputs_names_the_node(conf: Path) -> None:
    write(
        conf,
        """
        shop:
          nodes:
            - name: wrong
              func: shop_nodes.double
              inputs: shop.raw
              outputs: [shop.big, shop.small]
            - name: keys
              func: shop_nodes.named
              inputs: shop.raw
              outputs: {big: shop.doubled, tiny: shop.joined}
        """,
    )
    [pipeline] = load(conf)
    params = load_parameters(conf, "local")
    frame = pd.DataFrame({"amount": [1]})
    with pytest.raises(
        DatasetError, match=r"node 'wrong': .* returned one value; outputs declare 2"
    ):
        pipeline.node("wrong").run({"shop.raw": frame}, params)
    with pytest.raises(
        DatasetError, match=r"node 'keys': .*\['big', 'small'\]; outputs declare \['big', 'tiny'\]"
    ):
        pipeline.node("keys").run({"shop.raw": frame}, params)


def test_parameters_overlay_base_with_the_environment_field_by_field(conf: Path) -> None:
    (conf / "local" / "parameters.yml").write_text("shop:\n  window: {days: 7}\n")
    params = load_parameters(conf, "local")
    assert parameter(params, "params:shop.window") == {"days": 7, "weekdays": True}
    assert parameter(params, "params:shop.threshold") == 10
    assert parameter(params, "parameters")["shop"]["threshold"] == 10
    assert parameter(load_parameters(conf, "base"), "params:shop.window.days") == 30


def test_run_overrides_are_typed_and_refuse_undeclared_keys(conf: Path) -> None:
    overrides = parse_overrides(["shop.threshold=25", "shop.window.weekdays=false,shop.name=x y"])
    assert overrides == {
        "shop.threshold": 25,
        "shop.window.weekdays": False,
        "shop.name": "x y",
    }
    params = load_parameters(conf, "local")
    merged = with_overrides(params, {"shop.threshold": 25})
    assert OmegaConf.select(merged, "shop.threshold") == 25
    assert OmegaConf.select(params, "shop.threshold") == 10  # the loaded values are untouched
    with pytest.raises(ValueError, match=r"no parameter 'shop.treshold' to override \(declared: "):
        with_overrides(params, {"shop.treshold": 1})
    with pytest.raises(ValueError, match="is not key=value"):
        parse_overrides(["threshold"])


# Each bad file, the line the message must name, and what it must say.
BAD = {
    "cycle": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.join
              inputs: [shop.raw, shop.joined]
              outputs: shop.doubled
            - {name: b, func: shop_nodes.double, inputs: shop.doubled, outputs: shop.joined}
        """,
        3,
        "node 'a': the pipeline has a cycle: a -> b -> a",
    ),
    "missing function": (
        """
        shop:
          nodes:
            - {name: a, func: shop_nodes.triple, inputs: shop.raw, outputs: shop.doubled}
        """,
        3,
        "node 'a': function 'shop_nodes.triple' does not exist: "
        "module 'shop_nodes' has no 'triple'",
    ),
    "missing module": (
        """
        shop:
          nodes:
            - {name: a, func: nowhere.double, inputs: shop.raw, outputs: shop.doubled}
        """,
        3,
        "node 'a': function 'nowhere.double' does not exist: No module named 'nowhere'",
    ),
    "signature": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.split
              inputs: [shop.raw]
              outputs: [shop.big, shop.small]
        """,
        5,
        "node 'a': function split(frame, threshold) does not match its inputs [shop.raw]: "
        "missing a required argument: 'threshold'",
    ),
    "keyword not taken": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.double
              inputs: {table: shop.raw}
              outputs: shop.doubled
        """,
        5,
        "function double(frame) does not match its inputs [table=shop.raw]: "
        "missing a required argument: 'frame'",
    ),
    "input nobody provides": (
        """
        shop:
          nodes:
            - {name: a, func: shop_nodes.double, inputs: shop.orders, outputs: shop.doubled}
        """,
        3,
        "node 'a': input 'shop.orders' is provided by no catalog dataset and no node's output",
    ),
    "undeclared parameter": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.split
              inputs: [shop.raw, "params:shop.limit"]
              outputs: [shop.big, shop.small]
        """,
        3,
        "node 'a': input 'params:shop.limit': no such parameter in parameters.yml",
    ),
    "two writers": (
        """
        shop:
          nodes:
            - {name: a, func: shop_nodes.double, inputs: shop.raw, outputs: shop.doubled}
            - {name: b, func: shop_nodes.double, inputs: shop.raw, outputs: shop.doubled}
        """,
        4,
        "node 'b': output 'shop.doubled' is also written by node 'a' of pipeline 'shop' "
        "(shop.yml:3); a dataset has one writer",
    ),
    "output outside the catalog": (
        """
        shop:
          nodes:
            - {name: a, func: shop_nodes.double, inputs: shop.raw, outputs: shop.tripled}
        """,
        3,
        "node 'a': output 'shop.tripled' has no catalog entry (add one: pncp new dataset",
    ),
    "unknown node field": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.double
              input: shop.raw
              outputs: shop.doubled
        """,
        5,
        "node 'a': unknown field 'input'",
    ),
    "missing outputs": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.double
              inputs: shop.raw
        """,
        3,
        "node 'a': missing required field 'outputs'",
    ),
    "unknown pipeline field": (
        """
        shop:
          owner: me
          nodes: []
        """,
        2,
        "pipeline 'shop': unknown field 'owner'",
    ),
    "duplicate node names": (
        """
        shop:
          nodes:
            - {name: a, func: shop_nodes.double, inputs: shop.raw, outputs: shop.doubled}
            - {name: a, func: shop_nodes.double, inputs: shop.doubled, outputs: shop.joined}
        """,
        4,
        "node 'a': two nodes are named 'a' (also line 3)",
    ),
    "bad tag": (
        """
        shop:
          nodes:
            - name: a
              func: shop_nodes.double
              inputs: shop.raw
              outputs: shop.doubled
              tags: [has space]
        """,
        7,  # the `tags:` line
        "tag 'has space': letters, digits, '_', '-' and '.' only",
    ),
    "yaml syntax": (
        """
        shop:
          nodes: [
        """,
        3,
        "YAML syntax error",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_pipeline_fails_at_load_naming_file_line_and_node(conf: Path, case: str) -> None:
    body, line, message = BAD[case]
    path = write(conf, body)
    with pytest.raises(PipelineError) as raised:
        load(conf)
    text = str(raised.value)
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text, text


def test_a_file_must_be_named_after_its_pipeline(conf: Path) -> None:
    path = write(conf, GOOD, name="orders")
    with pytest.raises(
        PipelineError, match=r"pipeline 'shop' is in orders\.yml: name the file shop\.yml"
    ):
        read_pipeline(path)


def test_a_pipeline_reading_another_pipelines_output_is_checked_across_files(
    conf: Path,
) -> None:
    write(
        conf,
        """
        report:
          nodes:
            - {func: shop_nodes.join, inputs: [shop.big, shop.small], outputs: shop.joined}
        """,
        name="report",
    )
    pipelines = load(conf)
    assert [p.name for p in pipelines] == ["report", "shop"]
    with pytest.raises(PipelineError, match=r"no pipeline file nope\.yml"):
        load_pipelines(
            conf,
            ["nope"],
            parameters=load_parameters(conf, "local"),
            is_dataset=DATASETS.__contains__,
        )
