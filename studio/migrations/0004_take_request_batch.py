import uuid

from django.db import migrations, models


def one_request_per_existing_take(apps, schema_editor):
    """Before batches, every take was its own request: give each its own id (an AddField default
    would give them all the same one, and they would count as a single request)."""
    Take = apps.get_model("studio", "Take")
    for take in Take.objects.filter(request_batch__isnull=True).only("pk").iterator():
        Take.objects.filter(pk=take.pk).update(request_batch=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("studio", "0003_take_liveness")]

    operations = [
        migrations.AddField(model_name="take", name="request_batch", field=models.UUIDField(editable=False, null=True)),
        migrations.RunPython(one_request_per_existing_take, migrations.RunPython.noop),
        migrations.AlterField(model_name="take", name="request_batch",
                              field=models.UUIDField(default=uuid.uuid4, editable=False)),
    ]
