from django.db import migrations

ROLES = ("Sales Ops", "Manager", "Rep")


def create_groups(apps, schema_editor) -> None:  # noqa: ANN001
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    """The three roles exist on every install, not only after the demo seed."""

    dependencies = [("reps", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
