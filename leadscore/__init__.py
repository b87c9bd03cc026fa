"""leadscore: lead scoring and pipeline forecasting for B2B inside-sales teams."""

__version__ = "0.1.0"
