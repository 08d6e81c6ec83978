from needlens.cli import app

app()
