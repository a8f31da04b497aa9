from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0008_names_without_control_characters"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="application",
            options={
                "permissions": [
                    (
                        "act_as_support",
                        "Act as support: see every application and act for any provider, use the "
                        "Schedule, Health and jobs dashboard",
                    )
                ]
            },
        ),
    ]
