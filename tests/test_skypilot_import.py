"""``plan catalog import-skypilot`` on hand-written files in SkyPilot's published vms.csv layout.

The fixtures (tests/fixtures/skypilot/) follow the column layout of skypilot-org/skypilot-catalog
``catalogs/v*/aws/vms.csv`` (with AvailabilityZone) and ``catalogs/v*/lambda/vms.csv`` (other column order, no
zones); every expected row below is worked out by hand from those files.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from planner.catalog.offers import parse_offers
from planner.catalog.skypilot import import_skypilot
from planner.cli import app
from planner.errors import CatalogError

FIX = Path(__file__).parent / "fixtures" / "skypilot"
runner = CliRunner()


def _rows(name: str, provider: str):
    return import_skypilot((FIX / name).read_text(encoding="utf-8"), provider=provider, as_of="2026-12-01",
                           where=name)


def test_aws_sample_rows_by_hand():
    result = _rows("aws-vms-sample.csv", "aws")
    got = {(r.instance_type, r.gpu, r.gpus_per_node, r.market, r.regions, r.price_usd_per_node_hour, r.price_note)
           for r in result.rows}
    assert got == {
        ("g5.xlarge", "a10g", 1, "on_demand", ("us-east-1",), 1.006, ""),          # no SpotPrice: no spot row
        ("g6e.xlarge", "l40s", 1, "on_demand", ("us-east-1",), 1.861, ""),
        ("g6e.xlarge", "l40s", 1, "spot", ("us-east-1",), 0.84, "spot 0.79-0.84 across zones; the highest is kept"),
        ("p4d.24xlarge", "a100-40gb", 8, "on_demand", ("us-east-1",), 32.7726, ""),  # SkyPilot's A100 = 40 GB
        ("p5.48xlarge", "h100-sxm", 8, "on_demand", ("us-east-1", "us-east-2"), 98.32, ""),  # same price: merged
        ("p5.48xlarge", "h100-sxm", 8, "spot", ("us-east-1",), 33.5, "spot 21.5-33.5 across zones; the highest is kept"),
        ("p5.48xlarge", "h100-sxm", 8, "spot", ("us-east-2",), 18.3, "spot 12.1-18.3 across zones; the highest is kept"),
        ("p5.48xlarge", "h100-sxm", 8, "on_demand", ("ca-central-1",), 113.07, ""),
        ("p5.48xlarge", "h100-sxm", 8, "spot", ("ca-central-1",), 120.0, "spot above on-demand (113.07) in the source"),
    }
    assert result.skipped == {"GPU T4 not in the GPU catalog": 1, "GPU count not a power of two up to 64": 1,
                              "no GPU": 1}
    p5 = next(r for r in result.rows if r.instance_type == "p5.48xlarge")
    assert (p5.vcpus, p5.ram_gib, p5.nvlink_group, p5.as_of, p5.source) == (
        192.0, 2048.0, 8, "2026-12-01", "SkyPilot catalog file aws-vms-sample.csv (aws)")
    assert {r.interruption_bucket for r in result.rows if r.market == "spot"} == {"unknown"}


def test_lambda_layout_and_pcie_names():
    result = _rows("lambda-vms-sample.csv", "lambda")
    got = {(r.instance_type, r.gpu, r.gpus_per_node, r.nvlink_group, r.market, r.regions, r.price_usd_per_node_hour)
           for r in result.rows}
    assert got == {("gpu_1x_h100_pcie", "h100-pcie", 1, 1, "on_demand", ("us-east-1", "us-west-1"), 3.29),
                   ("gpu_8x_a100_80gb_sxm4", "a100-80gb", 8, 8, "on_demand", ("us-east-1",), 22.32)}
    assert result.skipped == {"no GPU": 1}


def test_cli_csv_reads_back_as_an_offer_catalog():
    result = runner.invoke(app, ["catalog", "import-skypilot", str(FIX / "aws-vms-sample.csv"), "--provider", "aws",
                                 "--as-of", "2026-12-01"])
    assert result.exit_code == 0, result.output
    csv_text = result.stdout
    frame = pd.read_csv(io.StringIO(csv_text))
    assert len(frame) == 9
    assert list(frame["usd_per_gpu_hour"]) == sorted(frame["usd_per_gpu_hour"])  # cheapest per GPU-hour first
    # The same columns as offers.csv: the rows parse with the catalog's own reader (id/usd columns dropped).
    rows = parse_offers(frame.drop(columns=["id", "usd_per_gpu_hour"]).to_csv(index=False), "imported.csv")
    assert {r.id for r in rows} == set(frame["id"])
    assert "9 offer rows; skipped" in result.stderr


@pytest.mark.parametrize(("folder", "provider"), [
    ("lambda", "lambda"),
    # before: "Lambda_Cloud" lower-cased to "lambda_cloud", which the offer row refuses: an internal error, exit 1
    ("Lambda_Cloud", "lambda-cloud"),
])
def test_provider_defaults_to_the_folder_name_as_a_provider_id(tmp_path, folder, provider):
    (tmp_path / folder).mkdir()
    path = tmp_path / folder / "vms.csv"
    path.write_text((FIX / "lambda-vms-sample.csv").read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["catalog", "import-skypilot", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert f'"provider":"{provider}"' in result.stdout.replace(" ", "")


@pytest.mark.parametrize(("args", "words"), [
    (["--provider", "my_cloud"], "--provider 'my_cloud': a provider id is lowercase letters, digits and '-'"),
    (["--as-of", "yesterday"], "--as-of 'yesterday': expected the date the file was fetched, YYYY-MM-DD"),
    (["--as-of", "2026-13-01"], "--as-of '2026-13-01'"),
])
def test_a_provider_or_date_the_catalog_cannot_hold_is_one_line_exit_2(args, words):
    result = runner.invoke(app, ["catalog", "import-skypilot", str(FIX / "aws-vms-sample.csv"), *args])
    assert result.exit_code == 2, result.output
    assert words in result.stderr and "Traceback" not in result.output and "internal error" not in result.output


def test_more_gpus_than_an_offer_row_holds_is_skipped_and_counted():
    text = ("InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region\n"
            "big,H100,128,1,1,100,,us-east-1\nhuge,H100,18446744073709551616,1,1,100,,us-east-1\n"
            "ok,H100,8,1,1,100,,us-east-1\n")
    result = import_skypilot(text, provider="aws", as_of="2026-12-01", where="v.csv")
    assert [r.instance_type for r in result.rows] == ["ok"]
    assert result.skipped == {"GPU count not a power of two up to 64": 2}


def test_names_with_spaces_or_control_characters_are_skipped_and_counted():
    # before: a region "\x1b[2J" became an empty region once the output escaped it, and the catalog did not read back
    text = ("InstanceType,AcceleratorName,AcceleratorCount,Price,Region\n"
            "g6e.xlarge,L40S,1,1.8,\x1b[2J\ng6e.xlarge,L40S,1,1.8,us east 1\ng6e.xlarge,L40S,1,1.8,a;b\n"
            "g6e xlarge,L40S,1,1.8,us-east-1\nStandard_NC24ads_A100_v4,A100-80GB,1,3.7,eastus\n")
    result = import_skypilot(text, provider="azure", as_of="2026-12-01", where="v.csv")
    assert [(r.instance_type, r.regions) for r in result.rows] == [("Standard_NC24ads_A100_v4", ("eastus",))]
    assert result.skipped == {"instance type or region not a plain name": 4}


@pytest.mark.parametrize(("text", "words"), [
    ("InstanceType,Price\nx,1\n", "missing column(s) AcceleratorName, AcceleratorCount, Region"),
    ("", "missing column(s)"),
])
def test_not_a_skypilot_file(text, words):
    with pytest.raises(CatalogError, match=r"bad\.csv: not a SkyPilot vms\.csv") as err:
        import_skypilot(text, provider="aws", as_of="2026-12-01", where="bad.csv")
    assert words in str(err.value)


def test_cli_bad_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "vms.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    result = runner.invoke(app, ["catalog", "import-skypilot", str(bad), "--provider", "aws"])
    assert result.exit_code == 2
    assert f"{bad}: not a SkyPilot vms.csv" in result.output and "Traceback" not in result.output
