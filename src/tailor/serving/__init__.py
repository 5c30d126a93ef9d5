"""Answering: a run loaded in the precision chosen (answerer.py, precision_check.py), and the HTTP
server that other programs call (app.py, openai_api.py, scheduler.py)."""
