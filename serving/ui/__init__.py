"""The web page served next to the API: priority list, lead page with the hand-off package,
forecast and model pages (``serving.ui.routes``), in English and Japanese."""
