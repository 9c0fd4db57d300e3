"""Helpers that run the dashboard in a real Streamlit server and a headless Chromium."""
