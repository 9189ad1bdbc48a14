def handle(event):
    return {"ok": True, "type": event.get("type")}
