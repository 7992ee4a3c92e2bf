from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("studio", "0004_take_request_batch")]

    operations = [
        migrations.AddField(model_name="project", name="content_seq",
                            field=models.PositiveBigIntegerField(default=0, editable=False)),
    ]
