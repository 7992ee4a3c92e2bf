"""/api/v1/: the schema, its docs (served from drf-spectacular-sidecar's static files: no CDN,
the CSP allows only our own), and the resources, every one under its project's slug."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from studio.api import views

project_patterns = [
    path("", views.ProjectDetail.as_view(), name="api_project"),
    path("members/", views.MemberList.as_view(), name="api_members"),
    path("cast/", views.CastList.as_view(), name="api_cast"),
    path("cast/<int:pk>/", views.CastDetail.as_view(), name="api_cast_member"),
    path("cast/<int:member_id>/images/", views.ReferenceImageList.as_view(), name="api_reference_images"),
    path("images/<int:pk>/", views.ReferenceImageDetail.as_view(), name="api_reference_image"),
    path("images/<int:pk>/file/", views.ReferenceImageFile.as_view(), name="api_reference_image_file"),
    path("script/", views.ScriptImport.as_view(), name="api_script"),
    path("scenes/", views.SceneList.as_view(), name="api_scenes"),
    path("scenes/<int:pk>/", views.SceneDetail.as_view(), name="api_scene"),
    path("shots/", views.ShotList.as_view(), name="api_shots"),
    path("shots/<int:pk>/", views.ShotDetail.as_view(), name="api_shot"),
    path("shots/<int:pk>/render/", views.ShotRender.as_view(), name="api_shot_render"),
    path("takes/", views.TakeList.as_view(), name="api_takes"),
    path("takes/<int:pk>/", views.TakeDetail.as_view(), name="api_take"),
    path("takes/<int:pk>/cancel/", views.TakeCancel.as_view(), name="api_take_cancel"),
    path("takes/<int:pk>/retry/", views.TakeRetry.as_view(), name="api_take_retry"),
    path("takes/<int:pk>/video/", views.TakeFile.as_view(), name="api_take_video"),
    path("takes/<int:pk>/poster/", views.TakePoster.as_view(), name="api_take_poster"),
    path("takes/<int:pk>/identity/", views.TakeIdentity.as_view(), name="api_take_identity"),
    path("takes/<int:take_id>/comments/", views.CommentList.as_view(), name="api_comments"),
    path("takes/<int:take_id>/decisions/", views.DecisionList.as_view(), name="api_decisions"),
    path("comments/<int:pk>/resolve/", views.CommentResolve.as_view(), name="api_comment_resolve"),
    path("storyboard/", views.ProjectStoryboard.as_view(), name="api_storyboard"),
    path("shot-list/csv/", views.ShotListCsv.as_view(), name="api_shot_list_csv"),
    path("shot-list/pdf/", views.ShotListPdf.as_view(), name="api_shot_list_pdf"),
    path("cuts/", views.CutList.as_view(), name="api_cuts"),
    path("cuts/<int:pk>/", views.CutDetail.as_view(), name="api_cut"),
    path("cuts/<int:cut_id>/render/", views.CutRender.as_view(), name="api_cut_render"),
    path("cuts/<int:cut_id>/storyboard/", views.CutStoryboard.as_view(), name="api_cut_storyboard"),
    path("cuts/<int:cut_id>/entries/", views.CutEntryList.as_view(), name="api_cut_entries"),
    path("cuts/<int:cut_id>/entries/<int:pk>/", views.CutEntryDetail.as_view(), name="api_cut_entry"),
    path("cuts/<int:cut_id>/reorder/", views.CutReorder.as_view(), name="api_cut_reorder"),
    path("cuts/<int:cut_id>/exports/", views.ExportList.as_view(), name="api_exports"),
    path("exports/<int:pk>/", views.ExportDetail.as_view(), name="api_export"),
    path("exports/<int:pk>/file/", views.ExportFile.as_view(), name="api_export_file"),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("projects/", views.ProjectList.as_view(), name="api_projects"),
    path("projects/<slug:slug>/", include(project_patterns)),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="api_not_found"),
]
