"""Streamlit pieces shared by the pages: the data boundary, messages, the sidebar."""
