"""Budget forecasting: months x hours with growth, price trends and reserved commitments, solved by decomposition."""

from planner.forecast.run import ForecastSettings, run_forecast

__all__ = ["ForecastSettings", "run_forecast"]
