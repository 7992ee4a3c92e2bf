from django.core.management import CommandError

from studio.models import Cut, Membership, Project, Role


def project_and_cut(slug: str, cut_name: str) -> tuple[Project, Cut]:
    project = Project.objects.alive().filter(slug=slug).first()
    if project is None:
        raise CommandError(f"No project with slug {slug!r}.")
    cut = Cut.objects.alive().filter(project=project, name=cut_name).first()
    if cut is None:
        names = ", ".join(project.cuts.alive().values_list("name", flat=True)) or "none"
        raise CommandError(f"No cut named {cut_name!r} in {project.name} (cuts: {names}).")
    return project, cut


def project_owner(project: Project):
    membership = Membership.objects.filter(project=project, role=Role.OWNER).select_related("user").first()
    return membership.user if membership else None


def progress_bar(fraction: float, width: int = 30) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "[" + "#" * filled + "-" * (width - filled) + f"] {fraction * 100:5.1f}%"
