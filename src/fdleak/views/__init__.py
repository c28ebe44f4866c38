"""Views render a report. They compute nothing new."""
