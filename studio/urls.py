from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from studio.views import (
    accounts, api_tokens, board, cast, cuts, deliverables, media, members, notifications, projects, review, script,
    sharing, trash, usage, webhooks, workers,
)

auth_patterns = [
    path("login/", accounts.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    # Password change (signed in) and reset by e-mail, with Django's views and our templates
    path("password/", auth_views.PasswordChangeView.as_view(template_name="auth/password_change.html"), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(template_name="auth/password_change_done.html"),
         name="password_change_done"),
    path("password/reset/", auth_views.PasswordResetView.as_view(
        template_name="auth/password_reset.html", email_template_name="auth/password_reset_email.txt",
        subject_template_name="auth/password_reset_subject.txt"), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(template_name="auth/password_reset_done.html"),
         name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(
        template_name="auth/password_reset_confirm.html"), name="password_reset_confirm"),
    path("password/reset/complete/", auth_views.PasswordResetCompleteView.as_view(
        template_name="auth/password_reset_complete.html"), name="password_reset_complete"),
    # Personal access tokens for the REST API
    path("tokens/", api_tokens.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", api_tokens.api_token_revoke_view, name="api_token_revoke"),
]

project_patterns = [
    path("", projects.project_home, name="project_home"),
    path("delete/", projects.project_delete, name="project_delete"),
    path("live/renders/", projects.active_renders_fragment, name="active_renders"),
    # Cast library
    path("cast/", cast.cast_library, name="cast_library"),
    path("cast/new/", cast.cast_member_new, name="cast_member_new"),
    path("cast/<int:member_id>/", cast.cast_member_card, name="cast_member_card"),
    path("cast/<int:member_id>/edit/", cast.cast_member_edit, name="cast_member_edit"),
    path("cast/<int:member_id>/trash/", cast.cast_member_trash, name="cast_member_trash"),
    path("cast/<int:member_id>/images/", cast.reference_image_upload, name="reference_image_upload"),
    path("cast/<int:member_id>/images/reorder/", cast.reference_images_reorder, name="reference_images_reorder"),
    path("cast/images/<int:image_id>/primary/", cast.reference_image_primary, name="reference_image_primary"),
    path("cast/images/<int:image_id>/delete/", cast.reference_image_delete, name="reference_image_delete"),
    path("cast/images/<int:image_id>/rights/", cast.reference_image_rights, name="reference_image_rights"),
    # Script
    path("script/", script.script_page, name="script"),
    path("script/revisions/<int:version>/", script.script_revision, name="script_revision"),
    path("script/revisions/<int:version>/mark-touched/", script.script_revision_mark_touched,
         name="script_revision_mark_touched"),
    # Shot board
    path("board/", board.board_page, name="board"),
    path("board/scenes/", board.board_scenes_fragment, name="board_scenes"),
    path("board/scenes/new/", board.scene_new, name="scene_new"),
    path("board/render-missing/", board.render_missing, name="render_missing"),
    # Deliverables: storyboard PDFs and shot lists
    path("board/storyboard.pdf", deliverables.project_storyboard, name="project_storyboard"),
    path("board/shot-list.csv", deliverables.shot_list_csv, name="shot_list_csv"),
    path("board/shot-list.pdf", deliverables.shot_list_pdf, name="shot_list_pdf"),
    path("cuts/<int:cut_id>/storyboard.pdf", deliverables.cut_storyboard, name="cut_storyboard"),
    path("scenes/<int:scene_id>/", board.scene_fragment, name="scene_fragment"),
    path("scenes/<int:scene_id>/shots/new/", board.shot_new, name="shot_new"),
    path("scenes/<int:scene_id>/reorder/", board.shots_reorder, name="shots_reorder"),
    path("scenes/<int:scene_id>/render/", board.scene_render, name="scene_render"),
    path("shots/<int:shot_id>/", board.shot_card, name="shot_card"),
    path("shots/<int:shot_id>/edit/", board.shot_edit, name="shot_edit"),
    path("shots/<int:shot_id>/duplicate/", board.shot_duplicate, name="shot_duplicate"),
    path("shots/<int:shot_id>/delete/", board.shot_delete, name="shot_delete"),
    path("shots/<int:shot_id>/render/", board.shot_render, name="shot_render"),
    path("shots/<int:shot_id>/rerender-chain/", board.shot_rerender_chain, name="shot_rerender_chain"),
    path("shots/<int:shot_id>/takes/<int:take_id>/retry/", board.shot_take_action, {"action": "retry"}, name="shot_take_retry"),
    path("shots/<int:shot_id>/takes/<int:take_id>/render-next/", board.shot_take_action, {"action": "render_next"},
         name="shot_take_render_next"),
    path("shots/<int:shot_id>/follow/", notifications.shot_follow, name="shot_follow"),
    path("shots/<int:shot_id>/add-to-cut/", cuts.add_to_cut, name="add_to_cut"),
    # Review room
    path("shots/<int:shot_id>/review/", review.review_room, name="review"),
    path("shots/<int:shot_id>/review/takes/", review.take_stack_fragment, name="take_stack"),
    path("shots/<int:shot_id>/variations/", review.shot_variations, name="shot_variations"),
    path("takes/<int:take_id>/comments/", review.comments, name="comments"),
    path("takes/<int:take_id>/decide/", review.take_decide, name="take_decide"),
    path("takes/<int:take_id>/rerender/", review.take_rerender, name="take_rerender"),
    path("takes/<int:take_id>/rerender-exact/", review.take_rerender_exact, name="take_rerender_exact"),
    path("takes/<int:take_id>/cancel/", review.take_cancel, name="take_cancel"),
    path("takes/<int:take_id>/retry/", review.take_retry, name="take_retry"),
    path("takes/<int:take_id>/render-next/", review.take_render_next, name="take_render_next"),
    path("takes/<int:take_id>/trash/", review.take_trash, name="take_trash"),
    path("comments/<int:comment_id>/resolve/", review.comment_resolve, name="comment_resolve"),
    path("comments/<int:comment_id>/rerender/", review.comment_rerender, name="comment_rerender"),
    path("comments/<int:comment_id>/rerender-region/", review.comment_rerender_region, name="comment_rerender_region"),
    # Cuts
    path("cuts/", cuts.cut_list, name="cut_list"),
    path("cuts/from-approved/", cuts.cut_new_from_approved, name="cut_new_from_approved"),
    path("cuts/<int:cut_id>/", cuts.cut_editor, name="cut_editor"),
    path("cuts/<int:cut_id>/selection/", cuts.cut_entries_bulk, name="cut_entries_bulk"),
    path("cuts/<int:cut_id>/entries/", cuts.cut_entries_fragment, name="cut_entries"),
    path("cuts/<int:cut_id>/reorder/", cuts.cut_reorder, name="cut_reorder"),
    path("cuts/<int:cut_id>/export/", cuts.export_new, name="export_new"),
    path("cuts/<int:cut_id>/exports/", cuts.exports_fragment, name="cut_exports"),
    path("cuts/entries/<int:entry_id>/", cuts.cut_entry_edit, name="cut_entry_edit"),
    path("cuts/entries/<int:entry_id>/remove/", cuts.cut_entry_remove, name="cut_entry_remove"),
    # Team and trust: members, trash, activity, guest review links
    path("members/", members.members_page, name="members"),
    path("members/<int:membership_id>/role/", members.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", members.member_remove, name="member_remove"),
    path("trash/", trash.trash_page, name="trash"),
    path("trash/<slug:kind>/<int:object_id>/restore/", trash.trash_restore, name="trash_restore"),
    path("activity/", trash.activity_page, name="activity"),
    path("usage/", usage.usage_page, name="usage"),
    path("usage/budget/", usage.budget_update, name="budget_update"),
    path("links/", sharing.review_links, name="review_links"),
    path("links/<int:link_id>/revoke/", sharing.review_link_revoke, name="review_link_revoke"),
    path("webhooks/", webhooks.webhooks_page, name="webhooks"),
    path("webhooks/<int:endpoint_id>/test/", webhooks.webhook_test, name="webhook_test"),
    path("webhooks/<int:endpoint_id>/enable/", webhooks.webhook_enable, name="webhook_enable"),
    path("webhooks/<int:endpoint_id>/delete/", webhooks.webhook_delete, name="webhook_delete"),
    path("webhooks/deliveries/<int:delivery_id>/redeliver/", webhooks.webhook_redeliver, name="webhook_redeliver"),
    # Media, behind the project's access check
    path("media/<path:name>", media.project_media, name="project_media"),
]

urlpatterns = [
    path("admin/login/", accounts.admin_sign_in),  # before admin.site.urls: the same sign-in limit
    path("admin/", admin.site.urls),
    path("accounts/", include(auth_patterns)),
    path("api/v1/", include("studio.api.urls")),
    path("", projects.project_list, name="project_list"),
    path("projects/new/", projects.project_new, name="project_new"),
    path("workers/", workers.workers_page, name="workers"),  # operators (staff) only
    # Notifications: the bell, the list and the preferences (the recipient's own, nobody else's)
    path("notifications/", notifications.notifications_page, name="notifications"),
    path("notifications/bell/", notifications.bell_fragment, name="notifications_bell"),
    path("notifications/read-all/", notifications.notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:notification_id>/open/", notifications.notification_open, name="notification_open"),
    path("projects/<int:project_id>/restore/", projects.project_restore, name="project_restore"),
    path("p/<slug:slug>/", include(project_patterns)),
    # Guest review links: no account, the token is the credential (studio/access.py decides)
    path("r/<slug:token>/", sharing.guest_review, name="guest_review"),
    path("r/<slug:token>/takes/<int:take_id>/comments/", sharing.guest_comment, name="guest_comment"),
    path("r/<slug:token>/media/<int:take_id>/", sharing.guest_media, name="guest_media"),
    path("r/<slug:token>/media/<int:take_id>/poster/", sharing.guest_media, {"kind": "poster"}, name="guest_poster"),
]

# A request refused before any view runs (e.g. a Host that is not ours) is answered as its part of
# the site answers: JSON under /api/.
handler400 = "studio.views.common.bad_request"
